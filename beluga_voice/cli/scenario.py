"""``beluga-voice test``: run scripted conversations and report them as a table.

The exit status is 0 when every expectation held and 1 otherwise, so a CI job can run a
scenario against a provider (offline: ``local``, ``replay``) or a deployed server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import anyio
import typer
from pydantic import ValidationError
from rich.table import Table

from .common import LogJsonOpt, app, console, fail, setup_logging


@app.command("test")
def test_scenario(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (YAML).")],
    provider: Annotated[
        str | None, typer.Option("--provider", "-p", help="Provider (overrides the file's).")
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="ws:// URL of a running server (overrides the file's).")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(envvar="BELUGA_TOKEN", help="Bearer token for --url.", show_default=False),
    ] = None,
    clock: Annotated[str | None, typer.Option(help="virtual or real.")] = None,
    log_json: LogJsonOpt = False,
) -> None:
    """Run a scripted conversation and check every turn (exit status 1 on a failure)."""
    setup_logging(log_json, False)
    from ..providers.errors import S2SError
    from ..testing.scenario import load_scenario, run_scenario

    try:
        spec = load_scenario(scenario)
    except FileNotFoundError:
        raise fail(f"scenario not found: {scenario}") from None
    except (ValidationError, ValueError, OSError) as exc:
        raise fail(f"invalid scenario {scenario}: {exc}") from None
    updates: dict[str, object] = {}
    if provider is not None:
        updates.update(provider=provider, url=None)
    if url is not None:
        updates["url"] = url
    if clock is not None:
        if clock not in ("virtual", "real"):
            raise fail("--clock must be virtual or real")
        updates["clock"] = clock
    spec = spec.model_copy(update=updates)
    try:
        results = anyio.run(
            lambda: run_scenario(spec, token=token, base_dir=scenario.resolve().parent)
        )
    except S2SError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot reach {spec.url}: {exc}") from None
    table = Table(title=spec.name or scenario.name)
    for column in ("#", "step", "agent heard", "reply", "first audio", "cut", "result"):
        table.add_column(column)
    for r in results:
        turn = r.turn
        first = turn.reply.first_audio_ms if turn is not None else None
        table.add_row(
            str(r.index),
            r.action,
            turn.transcript if turn is not None else "",
            turn.reply.text if turn is not None else "",
            f"{first:.0f} ms" if first is not None else "-",
            ("yes" if turn.interrupted else "no") if turn is not None else "",
            "[green]pass[/]" if r.passed else "[red]FAIL[/]: " + "; ".join(r.failures),
        )
    console.print(table)
    failed = sum(not r.passed for r in results)
    console.print(f"{len(results) - failed} passed, {failed} failed")
    if failed:
        raise typer.Exit(code=1)
