"""What every ``beluga-voice`` command shares: the Typer app, consoles, option types,
logging set-up, and the one-line failure that stands in for a traceback.

Kept apart from the commands so that the conversation runner can fail the same way
without importing the commands (and the commands stay short).
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from typer.core import TyperGroup

from ..observability.logging import JsonFormatter, RedactingFormatter
from ..providers.base import S2SProvider
from ..providers.config import S2SConfig
from ..providers.errors import S2SError
from ..providers.registry import new_provider
from ..secrets import redact


class _Group(TyperGroup):
    """The app's command group: flags (on/off options and ``--help``) show no value type
    in help.  Typer prints a ``<bool>`` type beside every flag, as if it took a value;
    ``--verbose <bool>`` reads as ``--verbose true``, which is refused."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_flags(super().get_params(ctx))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _plain_flags(command.get_params(ctx))
        return command


def _plain_flags(params: list[Any]) -> list[Any]:
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""  # an empty type column; names and help stay as they are
    return params


app = typer.Typer(
    name="beluga-voice",
    cls=_Group,
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
SttOpt = Annotated[
    str | None, typer.Option(help="Run a cascade: this STT service (see `providers`).")
]
TtsOpt = Annotated[str | None, typer.Option(help="... with this TTS service.")]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Log what the pipeline and provider do (debug).")
]

F = TypeVar("F", bound=Callable[..., Any])


class _Terminated(BaseException):
    """SIGTERM arrived while no server-owned handler was listening for it (a
    BaseException, like KeyboardInterrupt: an `except Exception` must not swallow it)."""


def stops_on_sigterm(command: F) -> F:
    """Make SIGTERM end ``command`` with a message and exit status 0.

    A server drains on SIGTERM once it listens for it; before that (imports, building the
    provider, binding the port: a second or more) and in servers that do not drain, Python's
    default action killed the process silently with status 143, which process managers
    log as a crash.  While the command runs, SIGTERM raises here instead; a server's own
    handler takes over while it serves and gives this one back when it returns."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        def on_term(signum: int, frame: object) -> None:
            raise _Terminated

        previous = signal.signal(signal.SIGTERM, on_term)
        try:
            return command(*args, **kwargs)
        except _Terminated:
            console.print("stopped (SIGTERM)")
            raise typer.Exit(0) from None
        finally:
            signal.signal(signal.SIGTERM, previous)

    return wrapper  # type: ignore[return-value]


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


def build_cascade(cfg: S2SConfig, stt: str | None, tts: str | None) -> list[Any]:
    """STT -> agent (the embedded rules agent) -> TTS, built by a VoiceSession: the
    processors of one conversation (a server builds one set per session)."""
    from ..agents.rules import RuleAgent
    from ..session import VoiceSession

    if not (stt and tts):
        raise fail("a cascade needs both --stt and --tts")
    try:
        session = VoiceSession(stt=stt, tts=tts, agent=RuleAgent(), config=cfg)
    except S2SError as exc:
        raise fail(str(exc)) from None
    return list(session.processors())


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
