"""The ``beluga-voice`` commands: ``run``, ``serve`` and ``providers``.

Each command turns its options into a config and a provider through :mod:`.common` and
fails with one redacted line, never a traceback.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer
from pydantic import SecretStr
from rich.table import Table

from ..providers.config import S2SConfig
from ..providers.registry import get_provider_spec, list_providers, new_provider
from ..services import ServiceInfo
from ..stt.registry import STT_SERVICES
from ..tts.registry import TTS_SERVICES
from .common import (
    ConfigOpt,
    LogJsonOpt,
    ProviderOpt,
    SttOpt,
    TtsOpt,
    VerboseOpt,
    app,
    build_cascade,
    build_provider,
    check_output,
    console,
    example_path,
    example_prompts,
    fail,
    load_config,
    setup_logging,
    stops_on_sigterm,
)
from .conversation import report, run_conversation
from .workers import run_async


@app.command()
def run(
    input_wav: Annotated[
        Path | None, typer.Argument(help="User audio (WAV). Default: the bundled example.")
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Reply audio WAV.")] = Path(
        "reply.wav"
    ),
    provider: ProviderOpt = None,
    stt: SttOpt = None,
    tts: TtsOpt = None,
    config: ConfigOpt = None,
    log_json: LogJsonOpt = False,
    realtime: Annotated[
        bool,
        typer.Option(help="Feed the input at playback speed (default: turn by turn, at once)."),
    ] = False,
    settle: Annotated[float, typer.Option(help="Quiet seconds that end the run.")] = 1.0,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 300.0,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    verbose: VerboseOpt = False,
) -> None:
    """Run a conversation from a WAV file and write the replies.

    Through a provider (-p), or an STT -> agent -> TTS cascade with --stt and --tts.
    """
    setup_logging(log_json, verbose)
    source = input_wav or example_path()
    if not source.exists():
        raise fail(f"input file not found: {source}")
    check_output(output)
    cfg = load_config(config, provider)
    brain = build_cascade(cfg, stt, tts) if stt or tts else build_provider(cfg)
    tracker = anyio.run(
        lambda: run_conversation(
            brain,
            source,
            output,
            realtime=realtime,
            settle=settle,
            timeout=timeout,
            show_progress=progress,
            sample_rate=cfg.sample_rate,
            label=f"{stt} + {tts}",
        )
    )
    report(tracker, output, expected=example_prompts() if input_wav is None else None)
    if not tracker.turns:
        raise fail(
            "no conversation turn was recognised: the provider heard no complete utterance "
            "(too short or too quiet for its end-of-turn detection, or no speech at all). "
            "Try speaking a little longer and louder, leave a pause after each turn, and "
            "check that the file is mono speech at its stated sample rate; --verbose shows "
            "what the provider saw."
        )


# -- serve ----------------------------------------------------------------------------------


@app.command()
@stops_on_sigterm
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free port, one worker only).")] = 8765,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="BELUGA_TOKEN", help="Bearer token clients must send.", show_default=False
        ),
    ] = None,
    provider: ProviderOpt = None,
    stt: SttOpt = None,
    tts: TtsOpt = None,
    config: ConfigOpt = None,
    protocol: Annotated[
        str,
        typer.Option(
            help="Wire protocol: 'beluga' (the project's own, one pipeline per connection), "
            "'openai-realtime' (OpenAI Realtime clients, at /v1/realtime), or a phone "
            "carrier's media stream: 'twilio', 'telnyx', 'plivo' (8 kHz G.711 calls)."
        ),
    ] = "beluga",
    workers: Annotated[
        int | None,
        typer.Option(help="Worker processes sharing the port (default: one per core).", min=1),
    ] = None,
    max_sessions: Annotated[int, typer.Option(help="Concurrent sessions per worker.", min=1)] = 100,
    drain_timeout: Annotated[
        float, typer.Option(help="Seconds live sessions may go on after SIGTERM.", min=0)
    ] = 30.0,
    loop: Annotated[
        str, typer.Option(help="Event loop: auto (uvloop if installed), uvloop, asyncio.")
    ] = "auto",
    engine: Annotated[
        str,
        typer.Option(
            help="WebSocket engine: 'picows' (frames in C, the fastest), 'websockets' (pure "
            "Python), 'auto' (picows when installed)."
        ),
    ] = "auto",
    transport: Annotated[
        str,
        typer.Option(
            help="Sessions over 'webrtc', 'websocket' or 'both' on one port; 'auto': both "
            "when the webrtc extra is installed, else websocket."
        ),
    ] = "auto",
    ice_server: Annotated[
        list[str] | None,
        typer.Option(help="STUN/TURN URL for WebRTC (repeat the option for several)."),
    ] = None,
    turn_username: Annotated[
        str | None, typer.Option(help="Username for the turn: URLs.", show_default=False)
    ] = None,
    turn_credential: Annotated[
        str | None,
        typer.Option(
            envvar="BELUGA_TURN_CREDENTIAL",
            help="Credential for the turn: URLs.",
            show_default=False,
        ),
    ] = None,
    log_json: LogJsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Serve voice conversations over WebRTC and WebSocket, one pipeline per session.

    Through a provider (-p), or an STT -> agent -> TTS cascade with --stt and --tts.
    The browser client is at http://HOST:PORT/.

    SIGTERM drains: new sessions get 1013, live ones finish up to --drain-timeout.
    GET /healthz and /readyz answer load balancers."""
    from .workers import WorkerSpec, default_workers, run_worker, run_workers, webrtc_config

    setup_logging(log_json, verbose)
    cfg = load_config(config, provider)
    if stt or tts:
        if protocol == "openai-realtime":
            raise fail("--protocol openai-realtime serves a provider (-p), not a cascade")
        build_cascade(cfg, stt, tts)  # a bad service or a missing key fails here, once
    if protocol == "openai-realtime":
        _serve_openai_realtime(cfg, host, port, token, engine)
        return
    from ..transports.telephony import CARRIERS

    if protocol != "beluga" and protocol not in CARRIERS:
        known = ", ".join(["beluga", "openai-realtime", *CARRIERS])
        raise fail(f"unknown protocol {protocol!r}; use one of {known}")
    # Default: one worker per core; on port 0 (any free port) one, as workers share a port.
    count = workers or (default_workers() if port else 1)
    spec = WorkerSpec(
        cfg=cfg,
        host=host,
        port=port,
        token=token,
        max_sessions=max_sessions,
        drain_timeout=drain_timeout,
        reuse_port=count > 1,
        loop=loop,
        engine=engine,
        log_json=log_json,
        verbose=verbose,
        protocol=protocol,
        transport=transport,
        ice_servers=tuple(ice_server or ()),
        turn_username=turn_username,
        turn_credential=turn_credential,
        stt=stt,
        tts=tts,
    )
    # Checked here, once, so a bad option fails before any worker starts.
    _server_config(host=host, port=port, token=token, reuse_port=spec.reuse_port, engine=engine)
    try:
        webrtc_config(spec)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if count > 1 and port == 0:
        raise fail("--workers > 1 needs a fixed --port (the workers share it)")
    try:
        if count == 1:
            run_worker(spec)
        elif run_workers(spec, count):
            raise fail("a worker failed (see above)")
    except ValueError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot serve on {host}:{port}: {exc}") from None
    console.print("stopped")


def _run_server(main: Callable[[], Coroutine[Any, Any, None]], host: str, port: int) -> None:
    """Serve until Ctrl+C or SIGTERM, then say so and return (exit status 0)."""

    async def until_terminated() -> None:
        with anyio.open_signal_receiver(signal.SIGTERM) as signals:
            async with anyio.create_task_group() as tg:
                tg.start_soon(main)
                async for _ in signals:
                    tg.cancel_scope.cancel()
                    break
        console.print("stopped (SIGTERM)")

    try:
        run_async(until_terminated)
    except KeyboardInterrupt:
        console.print("stopped")
    except OSError as exc:
        raise fail(f"cannot serve on {host}:{port}: {exc}") from None


def _server_config(**settings: Any) -> Any:
    """A ServerConfig, or a CLI error that says how to fix it."""
    from ..transports.websocket import ServerConfig

    try:
        return ServerConfig(**settings)
    except ValueError as exc:
        hint = " (set one with --token or BELUGA_TOKEN)" if "token" in str(exc) else ""
        raise fail(f"{exc}{hint}") from None


def _serve_openai_realtime(
    cfg: S2SConfig, host: str, port: int, token: str | None, engine: str
) -> None:
    """``serve --protocol openai-realtime``: the provider behind OpenAI's Realtime protocol,
    built per client session settings (see docs/openai-compatible-server.md)."""
    from ..transports.openai_realtime_server import (
        OpenAIRealtimeServer,
        ProviderBackend,
        RealtimeServerCore,
    )

    backend = ProviderBackend(cfg.provider, cfg)
    server_config = _server_config(
        host=host, port=port, token=token, max_message_bytes=1 << 20, engine=engine
    )
    try:
        # Build the provider for the default session now: a missing key fails here, once.
        backend.provider_for(RealtimeServerCore().backend_settings())
    except Exception as exc:
        raise fail(str(exc)) from None

    async def main() -> None:
        async with OpenAIRealtimeServer(backend, server_config) as server:
            console.print(
                f"serving {cfg.provider} as OpenAI Realtime on {server.base_url}/realtime "
                "(Ctrl+C to stop)"
            )
            await server.serve_forever()

    _run_server(main, host, port)


# -- providers ------------------------------------------------------------------------------


def _capabilities(name: str) -> str:
    """A provider's capability flags; providers are built with a placeholder key, which is
    never sent anywhere (building one does not connect)."""
    try:
        prov = new_provider(
            name, S2SConfig(provider=name, api_key=SecretStr("placeholder-not-a-key"))
        )
    except Exception:  # a provider that cannot even be built: say so, do not crash
        return "? (needs its credentials to be built)"
    caps = prov.capabilities
    flags = [
        flag
        for flag, on in (
            ("server-vad", caps.server_vad),
            ("truncation", caps.barge_in_truncation),
            ("tools", caps.tools),
            ("text", caps.text_input),
            ("speak", caps.speak_text),
            ("transcripts", caps.transcripts),
            ("resume", caps.session_resumption),
        )
        if on
    ]
    rates = "/".join(str(r // 1000) for r in caps.input_sample_rates)
    return f"{', '.join(flags)}; in {rates} kHz, out {caps.output_sample_rate // 1000} kHz"


@app.command()
def providers(log_json: LogJsonOpt = False) -> None:
    """List the providers, their capabilities and the credentials each needs."""
    setup_logging(log_json, False)
    table = Table(title="Providers")
    table.add_column("Name", style="bold")
    table.add_column("Description")
    table.add_column("Credentials")
    table.add_column("Capabilities")
    for name in list_providers():
        spec = get_provider_spec(name)
        creds = spec.credentials or (
            " or ".join(spec.api_key_env) if spec.requires_api_key else "none"
        )
        table.add_row(name, spec.description, creds, _capabilities(name))
    console.print(table)
    _services_table("STT services (run or serve --stt)", STT_SERVICES)
    _services_table("TTS services (run or serve --tts)", TTS_SERVICES)


def _services_table(title: str, services: dict[str, ServiceInfo]) -> None:
    """A catalogue of STT or TTS services with the keys each reads (listing them imports
    no client library)."""
    table = Table(title=title)
    table.add_column("Name", style="bold")
    table.add_column("Description")
    table.add_column("Credentials")
    for name, info in sorted(services.items()):
        creds = " or ".join(info.credentials) if info.credentials else "none"
        if info.credentials and not info.has_credentials():
            creds += " (not set)"
        table.add_row(name, info.summary, creds)
    console.print(table)
