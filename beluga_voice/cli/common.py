"""What every ``beluga-voice`` command shares: the Typer app, consoles, option types,
logging set-up, and the one-line failure that stands in for a traceback.

Kept apart from the commands so that the conversation runner can fail the same way
without importing the commands (and the commands stay short).
"""

from __future__ import annotations

import logging
import os
import sys
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..observability.logging import JsonFormatter, RedactingFormatter
from ..providers.base import S2SProvider
from ..providers.config import S2SConfig
from ..providers.errors import S2SError
from ..providers.registry import new_provider
from ..secrets import redact

app = typer.Typer(
    name="beluga-voice",
    help="Real-time voice conversations with AI, online or fully offline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)
log = logging.getLogger("beluga_voice.cli")

ProviderOpt = Annotated[
    str | None, typer.Option("--provider", "-p", help="Provider name (default: config or local).")
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML or JSON settings file (S2SConfig).")
]
LogJsonOpt = Annotated[bool, typer.Option("--log-json", help="Log as JSON lines on stderr.")]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Log what the pipeline and provider do (debug).")
]


def check_output(path: Path) -> None:
    """Fail before the conversation runs if its reply audio could not be written."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise fail(f"cannot write {path}: it is a directory")
    if not parent.is_dir():
        raise fail(f"cannot write {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise fail(f"cannot write {path}: directory {parent} is not writable")


def setup_logging(log_json: bool, verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_json:
        handler.setFormatter(JsonFormatter())
    else:
        # Redacted like configure_logging's output: a library's debug log (websockets
        # prints request lines, ?access_token= included) must not leak a secret either.
        handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)


def fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {redact(message)}", highlight=False)
    return typer.Exit(code=1)


def load_config(config: Path | None, provider: str | None) -> S2SConfig:
    try:
        cfg = S2SConfig.from_file(config) if config is not None else S2SConfig.from_env()
        if provider is not None:
            cfg = cfg.with_options(lambda data: data.__setitem__("provider", provider))
    except FileNotFoundError:
        raise fail(f"config file not found: {config}") from None
    except (ValueError, OSError) as exc:
        raise fail(f"invalid config: {exc}") from None
    return cfg


def build_provider(cfg: S2SConfig) -> S2SProvider:
    """The configured provider, wrapped as the config says (retry, fallback, metrics)."""
    from ..providers.wrap import wrap_provider

    try:
        built = new_provider(cfg.provider, cfg)
    except S2SError as exc:
        raise fail(exc.message or str(exc)) from None
    _check_aws_credentials(built)
    return wrap_provider(built)


def _check_aws_credentials(provider: object) -> None:
    """Missing AWS credentials fail here, before any connection is tried."""
    from ..providers.amazon_nova import AmazonNovaSonicProvider
    from ..providers.amazon_nova.signing import find_offline_credentials

    while not isinstance(provider, AmazonNovaSonicProvider) and hasattr(provider, "inner"):
        provider = provider.inner  # instrumentation wraps the provider itself
    if isinstance(provider, AmazonNovaSonicProvider) and provider.credentials.uses_chain:
        problem = find_offline_credentials(provider.credentials.profile)
        if problem is not None:
            raise fail(f"{provider.name}: {problem}")


def example_path() -> Path:
    """The bundled example conversation (16 kHz mono WAV of a user's side)."""
    return Path(str(resources.files("beluga_voice") / "data" / "example_conversation.wav"))


def example_prompts() -> list[str]:
    """What the bundled example's user says, one turn per item."""
    text = (resources.files("beluga_voice") / "data" / "example_conversation.txt").read_text(
        encoding="utf-8"
    )
    return [line for line in text.splitlines() if line.strip()]
