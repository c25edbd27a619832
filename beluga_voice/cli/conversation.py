"""``beluga-voice run``'s machinery: a WAV file through a pipeline, watched from the side.

:class:`Tracker` records turns, reply latency and errors without being in the frame path;
:class:`TurnGate` paces a file fed faster than real time turn by turn; ``report`` prints
the outcome.  Split from the command itself so the command module reads as the CLI surface.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..frames import (
    BotStoppedSpeakingFrame,
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
from ..pipeline import FrameObserver, FrameProcessor, PipelineTask
from ..providers.base import S2SProvider
from ..secrets import redact
from .common import console, err_console, fail


@dataclass
class Turn:
    user: str = ""
    bot: list[str] = field(default_factory=list)
    first_audio_ms: float | None = None


class Tracker(FrameObserver):
    """Watches the pipeline from the side: turns, latency, activity, errors."""

    def __init__(self) -> None:
        self.started = anyio.Event()
        self.ended = anyio.Event()
        self.turns: list[Turn] = []
        self.errors: list[str] = []
        self.responding = False
        self.playing = False
        """Reply audio went out and the output has not yet said the bot stopped speaking."""
        self.played = anyio.Event()
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
        if isinstance(frame, BotStoppedSpeakingFrame) and self.playing:  # from the output
            self.playing = False
            self.played.set()
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
            if not self.playing:
                self.playing = True
                self.played = anyio.Event()
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


class TurnGate(FrameProcessor):
    """Plays the user as a polite caller when the file is fed faster than real time.

    Fed at full speed, a provider would hear the next question before it had answered the
    last one, and (like a person talked over) drop its reply.  The gate runs its own VAD
    on the user audio; at the end of each user turn it holds the rest of the file until the
    bot's reply has ended and its audio has been played out, or until no reply has started
    within ``start_timeout`` seconds (nothing was understood).  Waiting for the end of the
    reply alone is not enough: the output may still be playing it, and the next question
    would then be a barge-in.
    """

    def __init__(self, tracker: Tracker, *, start_timeout: float = 3.0) -> None:
        super().__init__(name="TurnGate")
        from ..audio.vad import VADParams, VADStream

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
                if self.tracker.playing:
                    await self.tracker.played.wait()


async def run_conversation(
    provider: S2SProvider,
    source: Path,
    output: Path,
    *,
    realtime: bool,
    settle: float,
    timeout: float,
    show_progress: bool,
) -> Tracker:
    from ..processors.s2s import S2SProcessor
    from ..transports.file import WavFileInput, WavFileOutput

    try:
        wav_in = WavFileInput(source, realtime=realtime, trailing_silence_ms=1000, end_on_eof=False)
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read {source}: {exc}") from None
    tracker = Tracker()
    start = StartFrame(input_sample_rate=16000, output_sample_rate=provider.config.sample_rate)
    total = len(wav_in.converted(start.input_sample_rate, 1)) // (2 * 320) + 1
    s2s = tracker.source = S2SProcessor(provider, forward_input_audio=False)
    task = PipelineTask(
        [wav_in, *([] if realtime else [TurnGate(tracker)]), s2s, WavFileOutput(output)],
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


def report(tracker: Tracker, output: Path) -> None:
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
            f" max {max(measured):.0f} ms (over {len(measured)} turn{'' if len(measured) == 1 else 's'})"
        )
    console.print(f"wrote {tracker.reply_seconds:.1f} s of reply audio to {output}")
    for message in tracker.errors:
        err_console.print(f"[yellow]warning:[/] {redact(message)}", highlight=False)
