"""``beluga-voice run``'s machinery: a WAV file through a pipeline, watched from the side.

:class:`Tracker` records turns, reply latency and errors without being in the frame path;
:class:`TurnGate` paces a file fed faster than real time turn by turn; ``report`` prints
the outcome.  Split from the command itself so the command module reads as the CLI surface.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
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
    """From the end of the user's speech to the first reply audio, as a user would measure:
    the provider's end-of-turn wait (its silence timer) plus its reply time."""


class Tracker(FrameObserver):
    """Watches the pipeline from the side: turns, latency, activity, errors.

    Latency is counted from the end of the user's speech, which the tracker finds itself
    with a VAD on the input (``input`` names the processor whose audio it reads).  The
    input may be fed faster than real time, so the wait is counted in two parts: the audio
    the provider heard after the speech ended before it called the end of turn (its
    endpointing silence, in the input's own clock), then the wall-clock time from that
    call to the first reply audio."""

    def __init__(self) -> None:
        from ..audio.vad import VADStream

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
        """The processor whose output counts (the S2S processor, a cascade's TTS); frames
        re-pushed by later processors are the same frames and must not count twice."""
        self.input: FrameProcessor | None = None
        self._vad = VADStream()
        self._input_ms = 0.0
        self._speech_end_ms: float | None = None
        self._stopped_at: float | None = None
        self._endpointing_ms = 0.0

    def _turn(self) -> Turn:
        if not self.turns:
            self.turns.append(Turn())
        return self.turns[-1]

    def _heard(self, frame: InputAudioFrame) -> None:
        self._vad.feed(frame.audio, frame.sample_rate, frame.channels)
        self._input_ms += 1000 * frame.duration
        if self._vad.last_confidence >= self._vad.params.confidence:
            self._speech_end_ms = self._input_ms

    def on_push(self, source: FrameProcessor, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, InputAudioFrame):
            if source is self.input and direction is Direction.DOWNSTREAM:
                self._heard(frame)
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
            end = self._speech_end_ms
            self._endpointing_ms = max(0.0, self._input_ms - end) if end is not None else 0.0
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
                reply_ms = 1000 * (now - self._stopped_at)
                self._turn().first_audio_ms = self._endpointing_ms + reply_ms
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
        self._in_turn = False
        self._quiet_since: float | None = None
        self._quiet_s = 0.0

    async def _pace_quiet(self, frame: InputAudioFrame) -> None:
        """Within a turn, hold quiet audio to playback speed (see the class docstring)."""
        if not self._in_turn or self.vad.last_confidence >= self.vad.params.confidence:
            self._quiet_since = None
            return
        if self._quiet_since is None:
            self._quiet_since, self._quiet_s = time.monotonic(), 0.0
        self._quiet_s += frame.duration
        await anyio.sleep(max(0.0, self._quiet_since + self._quiet_s - time.monotonic()))

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if not isinstance(frame, InputAudioFrame) or direction is not Direction.DOWNSTREAM:
            await self.push_frame(frame, direction)
            return
        events = self.vad.feed(frame.audio, frame.sample_rate, frame.channels)
        kinds = {e.kind.value for e in events}
        if "started" in kinds:  # arm before the provider can have heard this turn
            self.tracker.started = anyio.Event()
            self.tracker.ended = anyio.Event()
            self._in_turn = True
        await self._pace_quiet(frame)
        await self.push_frame(frame, direction)
        if "stopped" in kinds:
            self._in_turn = False
            self._quiet_since = None
            with anyio.move_on_after(self.start_timeout):
                await self.tracker.started.wait()
            if self.tracker.started.is_set():
                await self.tracker.ended.wait()
                if self.tracker.playing:
                    await self.tracker.played.wait()


async def run_conversation(
    brain: S2SProvider | Sequence[FrameProcessor],
    source: Path,
    output: Path,
    *,
    realtime: bool,
    settle: float,
    timeout: float,
    show_progress: bool,
    sample_rate: int = 24000,
    label: str = "cascade",
) -> Tracker:
    """Run ``source`` through ``brain``: an S2S provider, or the processors of a cascade
    (STT -> agent -> TTS, whose last one is watched) at ``sample_rate``."""
    from ..processors.s2s import S2SProcessor
    from ..transports.file import WavFileInput, WavFileOutput

    try:
        wav_in = WavFileInput(source, realtime=realtime, trailing_silence_ms=1000, end_on_eof=False)
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read {source}: {exc}") from None
    tracker = Tracker()
    if isinstance(brain, S2SProvider):
        nodes: list[FrameProcessor] = [S2SProcessor(brain, forward_input_audio=False)]
        sample_rate, label = brain.config.sample_rate, brain.name
    else:
        nodes = list(brain)
    start = StartFrame(input_sample_rate=16000, output_sample_rate=sample_rate)
    total = len(wav_in.converted(start.input_sample_rate, 1)) // (2 * 320) + 1
    tracker.source = nodes[-1]
    gate = None if realtime else TurnGate(tracker)
    tracker.input = gate or wav_in  # what the provider is given, not what is read ahead
    task = PipelineTask(
        [wav_in, *([gate] if gate else []), *nodes, WavFileOutput(output)],
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
        bar = progress.add_task(f"{source.name} -> {label}", total=total)
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


def report(tracker: Tracker, output: Path, expected: list[str] | None = None) -> None:
    """Print the turns; ``expected`` (what was said, known for the bundled example) adds a
    column beside what the provider heard, so a misrecognition shows as one."""
    table = Table(title="Conversation", show_lines=False)
    table.add_column("#", justify="right")
    if expected is not None:
        table.add_column("User said")
    table.add_column("Heard" if expected is not None else "User said (as heard)")
    table.add_column("Bot replied")
    table.add_column("Reply after speech end", justify="right")
    rows = max(len(tracker.turns), len(expected or []))
    for n in range(rows):
        turn = tracker.turns[n] if n < len(tracker.turns) else Turn()
        latency = f"{turn.first_audio_ms:.0f} ms" if turn.first_audio_ms is not None else "-"
        said = [expected[n] if n < len(expected) else "-"] if expected is not None else []
        table.add_row(str(n + 1), *said, turn.user or "-", " ".join(turn.bot) or "-", latency)
    console.print(table)
    measured = sorted(t.first_audio_ms for t in tracker.turns if t.first_audio_ms is not None)
    if measured:
        turns = f"{len(measured)} turn{'' if len(measured) == 1 else 's'}"
        console.print(
            f"first reply audio after the end of the user's speech (end-of-turn wait "
            f"included): median {measured[len(measured) // 2]:.0f} ms, "
            f"max {measured[-1]:.0f} ms (over {turns})"
        )
    console.print(f"wrote {tracker.reply_seconds:.1f} s of reply audio to {output}")
    for message in tracker.errors:
        err_console.print(f"[yellow]warning:[/] {redact(message)}", highlight=False)
