"""``beluga-voice console``: talk to a provider through this machine's microphone and speaker.

The pipeline is the plainest one there is (microphone, S2S processor, speaker; see
:class:`~beluga_voice.transports.local_audio.LocalAudioTransport`).  :class:`ConsoleView`
watches it from the side (an observer, not in the frame path) and keeps what the terminal
shows: who is speaking, the interim transcript of the turn in progress, the final lines
of both sides, and each turn's latency (end of the user's speech to the first reply
audio).  Ctrl-C stops the pipeline, which releases the sound devices, and prints the
conversation.

Needs the ``audio`` extra (``sounddevice``) and the PortAudio library under it; what is
missing is named in one line (``apt-get install libportaudio2`` on Debian/Ubuntu).
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

import anyio
import typer
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Direction,
    ErrorFrame,
    Frame,
    OutputAudioFrame,
    StartFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from ..pipeline import FrameObserver, FrameProcessor, PipelineTask
from ..providers.base import S2SProvider
from ..secrets import redact
from .common import (
    ConfigOpt,
    LogJsonOpt,
    ProviderOpt,
    app,
    build_provider,
    console,
    fail,
    load_config,
    setup_logging,
)

__all__ = ["ConsoleView", "run_console"]

_MAX_LINES = 12
"""Final transcript lines kept on screen (the summary at the end has them all)."""


@dataclass
class _Line:
    role: str
    text: str
    latency_ms: float | None = None


@dataclass
class ConsoleView(FrameObserver):
    """What the terminal shows, kept up to date from the frames the pipeline pushes.

    ``source`` is the S2S processor: the frames it pushes count once (the output half
    pushes the same transcripts on).
    """

    provider: str = ""
    source: FrameProcessor | None = None
    lines: list[_Line] = field(default_factory=list)
    interim: dict[str, str] = field(default_factory=dict)
    interims_seen: int = 0
    user_speaking: bool = False
    bot_speaking: bool = False
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stopped_at: float | None = None
    _pending_latency: float | None = None

    def on_push(self, source: FrameProcessor, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, ErrorFrame):
            message = redact(frame.message)
            if message not in self.errors:
                self.errors.append(message)
            return
        if isinstance(frame, BotStartedSpeakingFrame):
            self.bot_speaking = True
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self.bot_speaking = False
        if source is not self.source:
            return
        if isinstance(frame, UserStartedSpeakingFrame):
            self.user_speaking = True
        elif isinstance(frame, UserStoppedSpeakingFrame):
            self.user_speaking = False
            self._stopped_at = time.monotonic()
        elif isinstance(frame, OutputAudioFrame) and self._stopped_at is not None:
            ms = 1000 * (time.monotonic() - self._stopped_at)
            self._stopped_at = None
            self.latencies_ms.append(ms)
            self._pending_latency = ms
        elif isinstance(frame, TranscriptionFrame) and frame.text:
            self._transcript(frame)

    def _transcript(self, frame: TranscriptionFrame) -> None:
        if not frame.final:
            self.interim[frame.role] = frame.text
            self.interims_seen += 1
            return
        self.interim.pop(frame.role, None)
        line = _Line(frame.role, frame.text)
        if frame.role == "assistant":
            line.latency_ms, self._pending_latency = self._pending_latency, None
        self.lines.append(line)

    def render(self) -> RenderableType:
        """The live view: state, the last lines, the turn in progress."""
        state = Text()
        state.append(f"{self.provider}  ", style="bold")
        state.append("you: ")
        state.append("speaking" if self.user_speaking else "quiet", style="green")
        state.append("   bot: ")
        state.append("speaking" if self.bot_speaking else "quiet", style="cyan")
        if self.latencies_ms:
            state.append(f"   last reply after {self.latencies_ms[-1]:.0f} ms")
        state.append("   (Ctrl-C to stop)", style="dim")
        body = Text()
        for line in self.lines[-_MAX_LINES:]:
            body.append(*_said(line))
            body.append("\n")
        for role, text in self.interim.items():
            who = "you" if role == "user" else "bot"
            body.append(f"{who}: {text}\n", style="dim italic")
        for message in self.errors[-3:]:
            body.append(f"error: {message}\n", style="red")
        return Group(state, body)

    def summary(self) -> Table:
        table = Table(title="Conversation", show_lines=False)
        table.add_column("Who")
        table.add_column("Said")
        table.add_column("Reply after turn end", justify="right")
        for line in self.lines:
            who = "you" if line.role == "user" else "bot"
            latency = f"{line.latency_ms:.0f} ms" if line.latency_ms is not None else ""
            table.add_row(who, line.text, latency)
        return table


def _said(line: _Line) -> tuple[str, str]:
    if line.role == "user":
        return f"you: {line.text}", "green"
    latency = f"  [{line.latency_ms:.0f} ms]" if line.latency_ms is not None else ""
    return f"bot: {line.text}{latency}", "cyan"


async def run_console(
    provider: S2SProvider,
    *,
    backend: Any = None,
    input_device: int | str | None = None,
    output_device: int | str | None = None,
    sample_rate: int = 16000,
    out: Console | None = None,
    stop: anyio.Event | None = None,
    handle_sigint: bool = True,
) -> ConsoleView:
    """Talk to ``provider`` until ``stop`` is set, Ctrl-C (SIGINT) or the pipeline ends.

    ``backend`` replaces the ``sounddevice`` module (tests pass a fake); raises
    :class:`~beluga_voice.transports.local_audio.LocalAudioUnavailable` naming what is
    missing.  Returns the view, whose summary the caller prints.
    """
    from ..processors.s2s import S2SProcessor
    from ..transports.local_audio import LocalAudioTransport

    transport = LocalAudioTransport(
        input_device=input_device, output_device=output_device, backend=backend
    )
    s2s = S2SProcessor(provider)
    view = ConsoleView(provider=provider.name, source=s2s)
    task = PipelineTask(
        [transport.input(), s2s, transport.output()],
        start_frame=StartFrame(
            input_sample_rate=sample_rate, output_sample_rate=provider.config.sample_rate
        ),
        observers=[view],
        stop_timeout=3.0,
    )
    stop = stop or anyio.Event()
    out = out or console
    with Live(view.render(), console=out, refresh_per_second=10, transient=True) as live:
        async with anyio.create_task_group() as tg:

            async def run() -> None:
                await task.run()
                stop.set()

            async def on_sigint() -> None:
                with anyio.open_signal_receiver(signal.SIGINT) as signals:
                    async for _ in signals:
                        stop.set()
                        return

            async def refresh() -> None:
                while True:  # the screen, not the pipeline: it runs on its own
                    live.update(view.render())
                    await anyio.sleep(0.1)

            tg.start_soon(run)
            tg.start_soon(refresh)
            if handle_sigint:
                tg.start_soon(on_sigint)
            await stop.wait()
            if not task.finished:
                with anyio.CancelScope(shield=True):
                    await task.cancel()  # releases the microphone and the speaker
            tg.cancel_scope.cancel()
    view.errors += [redact(e.message) for e in task.errors if redact(e.message) not in view.errors]
    return view


@app.command("console")
def console_command(
    provider: ProviderOpt = None,
    config: ConfigOpt = None,
    input_device: Annotated[
        str | None, typer.Option(help="Microphone (index or name; default: the system's).")
    ] = None,
    output_device: Annotated[
        str | None, typer.Option(help="Speaker (index or name; default: the system's).")
    ] = None,
    sample_rate: Annotated[int, typer.Option(help="Microphone sample rate (Hz).")] = 16000,
    log_json: LogJsonOpt = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Talk to a provider through this machine's microphone and speaker (Ctrl-C ends)."""
    from ..transports.local_audio import LocalAudioUnavailable

    setup_logging(log_json, verbose)
    cfg = load_config(config, provider)
    prov = build_provider(cfg)

    def device(value: str | None) -> int | str | None:
        return int(value) if value is not None and value.isdigit() else value

    try:
        view = anyio.run(
            lambda: run_console(
                prov,
                input_device=device(input_device),
                output_device=device(output_device),
                sample_rate=sample_rate,
            )
        )
    except LocalAudioUnavailable as exc:
        raise fail(str(exc)) from None
    console.print(view.summary())
    if view.latencies_ms:
        ordered = sorted(view.latencies_ms)
        console.print(
            f"reply latency: median {ordered[len(ordered) // 2]:.0f} ms, "
            f"max {ordered[-1]:.0f} ms over {len(ordered)} turns"
        )
    for message in view.errors:
        console.print(f"[yellow]warning:[/] {message}", highlight=False)
