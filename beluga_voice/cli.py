"""The ``beluga-voice`` command line: run a conversation from a WAV file, serve, list.

    beluga-voice run                      # the bundled example, offline, to reply.wav
    beluga-voice run talk.wav -o out.wav --provider openai_realtime --config voice.toml
    beluga-voice serve --port 8765        # WebSocket server, one pipeline per connection
    beluga-voice providers                # what is installed and what each one needs

Errors are printed as one clear line and a non-zero exit status, never a traceback (unless
``--debug``); secrets never reach the output (every error is redacted).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .frames import (
    Direction,
    ErrorFrame,
    Frame,
    InputAudioFrame,
    OutputAudioFrame,
    ResponseEndFrame,
    ResponseStartFrame,
    StartFrame,
    TranscriptionFrame,
    UserStoppedSpeakingFrame,
)
from .pipeline import FrameObserver, FrameProcessor, PipelineTask
from .providers.base import StreamingS2SProvider
from .providers.config import S2SConfig
from .providers.errors import S2SError, redact
from .providers.registry import get_provider_spec, list_providers, new_provider

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


# -- shared plumbing ------------------------------------------------------------------------


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info and record.exc_info[1] is not None:
            entry["error"] = redact(repr(record.exc_info[1]))
        return json.dumps(entry)


def _setup_logging(log_json: bool, verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_json:
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {redact(message)}", highlight=False)
    return typer.Exit(code=1)


def _load_config(config: Path | None, provider: str | None) -> S2SConfig:
    try:
        cfg = S2SConfig.from_file(config) if config is not None else S2SConfig.from_env()
        if provider is not None:
            cfg = cfg.model_copy(update={"provider": provider})
    except FileNotFoundError:
        raise _fail(f"config file not found: {config}") from None
    except (ValueError, OSError) as exc:
        raise _fail(f"invalid config: {exc}") from None
    return cfg


def _build_provider(cfg: S2SConfig) -> StreamingS2SProvider:
    try:
        provider = new_provider(cfg.provider, cfg)
    except S2SError as exc:
        raise _fail(str(exc)) from None
    if not isinstance(provider, StreamingS2SProvider):
        raise _fail(f"provider {cfg.provider!r} does not support streaming sessions")
    return provider


def example_path() -> Path:
    """The bundled example conversation (16 kHz mono WAV of a user's side)."""
    return Path(str(resources.files("beluga_voice") / "data" / "example_conversation.wav"))


# -- run ------------------------------------------------------------------------------------


@dataclass
class Turn:
    user: str = ""
    bot: list[str] = field(default_factory=list)
    first_audio_ms: float | None = None


class _Tracker(FrameObserver):
    """Watches the pipeline from the side: turns, latency, activity, errors."""

    def __init__(self) -> None:
        self.started = anyio.Event()
        self.ended = anyio.Event()
        self.turns: list[Turn] = []
        self.errors: list[str] = []
        self.responding = False
        self.reply_seconds = 0.0
        self.last_activity = time.monotonic()
        self.source: FrameProcessor | None = None
        """The processor whose output counts (the S2S processor); frames re-pushed by
        later processors are the same frames and must not count twice."""
        self._stopped_at: float | None = None

    def _turn(self) -> Turn:
        if not self.turns:
            self.turns.append(Turn())
        return self.turns[-1]

    def on_push(self, source: FrameProcessor, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, InputAudioFrame):
            return
        now = time.monotonic()
        self.last_activity = now
        if isinstance(frame, ErrorFrame) and frame.message not in self.errors:
            self.errors.append(frame.message)
        if source is not self.source:
            return
        if isinstance(frame, UserStoppedSpeakingFrame):
            self._stopped_at = now
        elif isinstance(frame, TranscriptionFrame) and frame.final and frame.text:
            if frame.role == "user":
                self.turns.append(Turn(user=frame.text))
            elif not self._turn().bot or self._turn().bot[-1] != frame.text:
                self._turn().bot.append(frame.text)
        elif isinstance(frame, OutputAudioFrame) and direction is Direction.DOWNSTREAM:
            self.reply_seconds += frame.duration
            if self._stopped_at is not None:
                self._turn().first_audio_ms = 1000 * (now - self._stopped_at)
                self._stopped_at = None
        elif isinstance(frame, ResponseStartFrame):
            self.responding = True
            self.started.set()
        elif isinstance(frame, ResponseEndFrame):
            self.responding = False
            self.ended.set()


class _TurnGate(FrameProcessor):
    """Plays the user as a polite caller when the file is fed faster than real time.

    Fed at full speed, a provider would hear the next question before it had answered the
    last one, and (like a person talked over) drop its reply.  The gate runs its own VAD
    on the user audio; at the end of each user turn it holds the rest of the file until the
    bot's reply has ended, or until no reply has started within ``start_timeout`` seconds
    (nothing was understood).
    """

    def __init__(self, tracker: _Tracker, *, start_timeout: float = 3.0) -> None:
        super().__init__(name="TurnGate")
        from .processors.vad import VADParams, VADStream

        self.tracker = tracker
        self.start_timeout = start_timeout
        self.vad = VADStream(params=VADParams(stop_secs=0.8))

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if not isinstance(frame, InputAudioFrame) or direction is not Direction.DOWNSTREAM:
            await self.push_frame(frame, direction)
            return
        events = self.vad.feed(frame.audio, frame.sample_rate, frame.channels)
        kinds = {e.kind.value for e in events}
        if "started" in kinds:  # arm before the provider can have heard this turn
            self.tracker.started = anyio.Event()
            self.tracker.ended = anyio.Event()
        await self.push_frame(frame, direction)
        if "stopped" in kinds:
            with anyio.move_on_after(self.start_timeout):
                await self.tracker.started.wait()
            if self.tracker.started.is_set():
                await self.tracker.ended.wait()


async def _run_conversation(
    provider: StreamingS2SProvider,
    source: Path,
    output: Path,
    *,
    realtime: bool,
    settle: float,
    timeout: float,
    show_progress: bool,
) -> _Tracker:
    from .processors.s2s import S2SProcessor
    from .transports.file import WavFileInput, WavFileOutput

    try:
        wav_in = WavFileInput(source, realtime=realtime, trailing_silence_ms=1000, end_on_eof=False)
    except (OSError, ValueError) as exc:
        raise _fail(f"cannot read {source}: {exc}") from None
    tracker = _Tracker()
    start = StartFrame(input_sample_rate=16000, output_sample_rate=provider.config.sample_rate)
    total = len(wav_in.converted(start.input_sample_rate, 1)) // (2 * 320) + 1
    s2s = tracker.source = S2SProcessor(provider, forward_input_audio=False)
    task = PipelineTask(
        [wav_in, *([] if realtime else [_TurnGate(tracker)]), s2s, WavFileOutput(output)],
        start_frame=start,
        observers=[tracker],
        stop_timeout=5.0,
    )
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=err_console,
        disable=not show_progress,
        transient=True,
    )
    with progress:
        bar = progress.add_task(f"{source.name} -> {provider.name}", total=total)
        with anyio.move_on_after(timeout):
            async with anyio.create_task_group() as tg:
                tg.start_soon(task.run)
                # Poll for the UI only: the pipeline runs on its own; a finished input plus
                # ``settle`` seconds with no reply activity means the conversation is over.
                while not task.finished:
                    await anyio.sleep(0.05)
                    progress.update(bar, completed=min(wav_in.frames_pushed, total))
                    done = wav_in.frames_pushed >= total - 1 and not tracker.responding
                    if done and time.monotonic() - tracker.last_activity >= settle:
                        await task.stop_when_done()
                        break
        if not task.finished:
            tracker.errors.append(f"gave up after {timeout:g} s")
            with anyio.CancelScope(shield=True):
                await task.cancel()
    tracker.errors += [e.message for e in task.errors if e.message not in tracker.errors]
    return tracker


def _report(tracker: _Tracker, output: Path) -> None:
    table = Table(title="Conversation", show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("User said")
    table.add_column("Bot replied")
    table.add_column("Reply after turn end", justify="right")
    for n, turn in enumerate(tracker.turns, 1):
        latency = f"{turn.first_audio_ms:.0f} ms" if turn.first_audio_ms is not None else "-"
        table.add_row(str(n), turn.user or "-", " ".join(turn.bot) or "-", latency)
    console.print(table)
    measured = [t.first_audio_ms for t in tracker.turns if t.first_audio_ms is not None]
    if measured:
        console.print(
            f"first reply audio after the provider's end of turn: median {sorted(measured)[len(measured) // 2]:.0f} ms,"
            f" max {max(measured):.0f} ms (over {len(measured)} turns)"
        )
    console.print(f"wrote {tracker.reply_seconds:.1f} s of reply audio to {output}")
    for message in tracker.errors:
        err_console.print(f"[yellow]warning:[/] {redact(message)}", highlight=False)


@app.command()
def run(
    input_wav: Annotated[
        Path | None, typer.Argument(help="User audio (WAV). Default: the bundled example.")
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Reply audio WAV.")] = Path(
        "reply.wav"
    ),
    provider: ProviderOpt = None,
    config: ConfigOpt = None,
    log_json: LogJsonOpt = False,
    realtime: Annotated[
        bool,
        typer.Option(help="Feed the input at playback speed (default: turn by turn, at once)."),
    ] = False,
    settle: Annotated[float, typer.Option(help="Quiet seconds that end the run.")] = 1.0,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 300.0,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run a conversation from a WAV file through a provider and write the replies."""
    _setup_logging(log_json, verbose)
    source = input_wav or example_path()
    if not source.exists():
        raise _fail(f"input file not found: {source}")
    cfg = _load_config(config, provider)
    prov = _build_provider(cfg)
    tracker = anyio.run(
        lambda: _run_conversation(
            prov,
            source,
            output,
            realtime=realtime,
            settle=settle,
            timeout=timeout,
            show_progress=progress,
        )
    )
    _report(tracker, output)
    if not tracker.turns:
        raise _fail("no conversation turn was recognised")


# -- serve ----------------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free port).")] = 8765,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="BELUGA_TOKEN", help="Bearer token clients must send.", show_default=False
        ),
    ] = None,
    provider: ProviderOpt = None,
    config: ConfigOpt = None,
    log_json: LogJsonOpt = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Serve voice conversations over WebSocket (one pipeline per connection)."""
    _setup_logging(log_json, verbose)
    cfg = _load_config(config, provider)
    prov = _build_provider(cfg)
    from .processors.s2s import S2SProcessor
    from .transports.websocket import ServerConfig, WebSocketServer

    try:
        server_config = ServerConfig(
            host=host, port=port, token=token, output_sample_rate=cfg.sample_rate
        )
    except ValueError as exc:
        raise _fail(str(exc)) from None

    def build(transport: Any) -> list[Any]:
        return [transport.input(), S2SProcessor(prov), transport.output()]

    async def main() -> None:
        async with WebSocketServer(build, server_config) as server:
            console.print(f"serving {prov.name} on {server.url} (Ctrl+C to stop)")
            await server.serve_forever()

    try:
        anyio.run(main)
    except KeyboardInterrupt:
        console.print("stopped")
    except OSError as exc:
        raise _fail(f"cannot serve on {host}:{port}: {exc}") from None


# -- providers ------------------------------------------------------------------------------


def _capabilities(name: str) -> str:
    """A provider's capability flags; providers are built with a placeholder key, which is
    never sent anywhere (building one does not connect)."""
    try:
        prov = new_provider(name, S2SConfig(provider=name, api_key="placeholder-not-a-key"))
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
    _setup_logging(log_json, False)
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


def main() -> None:  # pragma: no cover - the console-script shim
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
