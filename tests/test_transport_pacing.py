"""Output pacing: drift, chunking, bot speaking state and barge-in accounting."""

from __future__ import annotations

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beluga_voice.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    InterruptionFrame,
    OutputAudioFrame,
    ResponseEndFrame,
    StartFrame,
)
from beluga_voice.pipeline import PipelineTask
from beluga_voice.transports import Pacer, PlaybackBuffer
from beluga_voice.transports.pacing import Doorbell
from beluga_voice.transports.testing import MemoryOutput, VirtualClock

pytestmark = pytest.mark.anyio

RATE = 16000
CHUNK = 640  # 20 ms at 16 kHz


def audio(ms: int, value: int = 1) -> bytes:
    n = RATE * ms // 1000
    return value.to_bytes(2, "little", signed=True) * n


def test_pacer_error_does_not_accumulate_with_late_wakeups() -> None:
    """A minute of 20 ms chunks with every wake-up up to 3 ms late: drift stays < 5 ms."""

    async def main() -> list[float]:
        clock = VirtualClock(jitter=0.003, seed=7)
        pacer = Pacer(clock)
        pacer.begin()
        times = []
        for n in range(3000):
            if n:
                await pacer.wait_turn()
            times.append(clock.now())
            pacer.released(0.02)
        return times

    times = anyio.run(main)
    errors = [t - n * 0.02 for n, t in enumerate(times)]
    assert min(errors) >= 0.0
    assert max(errors) <= 0.003 + 1e-9  # bounded by one wake-up's lateness
    assert errors[-1] < 0.005  # after 60 s (a relative sleep would be ~4.5 s late by now)


def test_pacer_played_is_released_minus_in_flight() -> None:
    clock = VirtualClock()
    pacer = Pacer(clock)
    pacer.begin()
    pacer.released(0.02)
    pacer.released(0.02)
    assert pacer.played() == pytest.approx(0.0)
    clock.t = 0.03
    assert pacer.played() == pytest.approx(0.03)
    clock.t = 1.0
    assert pacer.played() == pytest.approx(0.04)  # never more than released


def test_pacer_resync_after_underrun_restarts_from_now() -> None:
    clock = VirtualClock()
    pacer = Pacer(clock)
    pacer.begin()
    pacer.released(0.02)
    clock.t = 0.5  # buffer ran dry; audio came back late
    pacer.resync()
    assert pacer.drained_at == pytest.approx(0.5)
    pacer.released(0.02)
    assert pacer.played(0.52) == pytest.approx(0.04)


@given(st.lists(st.integers(0, 3000), max_size=40), st.sampled_from([2, 4]))
@settings(max_examples=200, deadline=None)
def test_playback_buffer_loses_and_duplicates_nothing(sizes: list[int], frame: int) -> None:
    buf = PlaybackBuffer(640, frame)
    data = bytearray()
    out = bytearray()
    for i, size in enumerate(sizes):
        block = bytes((i + j) % 251 for j in range(size - size % frame))
        buf.push(block)
        data += block
        chunk = buf.take()
        assert len(chunk) <= 640 and len(chunk) % frame == 0
        out += chunk
    while chunk := buf.take():
        out += chunk
    assert out == data
    assert len(buf) == 0


def test_playback_buffer_rejects_partial_frames_and_reports_drops() -> None:
    buf = PlaybackBuffer(640, 2)
    with pytest.raises(ValueError, match="whole number"):
        buf.push(b"\x00\x01\x02")
    buf.push(bytes(1000))
    assert buf.clear() == 1000
    with pytest.raises(ValueError, match="multiple"):
        PlaybackBuffer(641, 2)


class _Run:
    """A pipeline [MemoryOutput] with captured downstream and upstream frames."""

    def __init__(self, out: MemoryOutput) -> None:
        self.out = out
        self.down: list[Frame] = []
        self.up: list[Frame] = []

        self._changed = anyio.Event()

        async def down(f: Frame) -> None:
            self.down.append(f)
            self._changed.set()

        async def up(f: Frame) -> None:
            self.up.append(f)
            self._changed.set()

        self.task = PipelineTask(
            [out],
            start_frame=StartFrame(input_sample_rate=RATE, output_sample_rate=RATE),
            on_output=down,
            on_upstream=up,
        )

    def of(self, kind: type[Frame], where: list[Frame]) -> list[Frame]:
        return [f for f in where if isinstance(f, kind)]

    async def wait_up(self, kind: type[Frame], count: int) -> None:
        """Wait (event-driven) until ``count`` frames of ``kind`` came out upstream."""
        with anyio.fail_after(5):
            while len(self.of(kind, self.up)) < count:
                self._changed = anyio.Event()
                await self._changed.wait()


async def test_a_minute_through_the_output_half_keeps_within_5ms() -> None:
    clock = VirtualClock(jitter=0.002, seed=3)
    run = _Run(MemoryOutput(clock=clock, lead_ms=0))
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run.task.run)
            for _ in range(600):  # 60 s in 100 ms frames
                await run.task.queue_frame(OutputAudioFrame(audio(100), RATE))
            await run.task.queue_frame(ResponseEndFrame())
            await run.task.stop_when_done()
    chunks = run.out.chunks
    assert len(chunks) == 3000
    assert b"".join(c for _, c in chunks) == audio(100) * 600
    worst = max(abs(t - n * 0.02) for n, (t, _) in enumerate(chunks))
    assert worst < 0.005
    stops = run.of(BotStoppedSpeakingFrame, run.down)
    assert len(stops) == 1 and not stops[0].interrupted  # type: ignore[attr-defined]
    assert stops[0].played_ms == pytest.approx(60_000, abs=0.01)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("lead_ms", "gate", "now", "played", "chunks"),
    [
        (0, 0.30, 0.30, 300.0, 15),  # between chunks
        (0, 0.32, 0.31, 310.0, 16),  # half-way through a chunk
        (20, 0.30, 0.30, 300.0, 16),  # one chunk released ahead is not counted as heard
    ],
)
async def test_interruption_drops_unplayed_audio_and_reports_played_ms(
    lead_ms: float, gate: float, now: float, played: float, chunks: int
) -> None:
    clock = VirtualClock()
    out = MemoryOutput(clock=clock, lead_ms=lead_ms)
    run = _Run(out)
    clock.gate(at=gate, now=now)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run.task.run)
            await run.task.queue_frame(OutputAudioFrame(audio(1000), RATE))
            await clock.gated.wait()
            released = len(out.audio)
            await run.task.queue_frame(InterruptionFrame())
            await run.wait_up(BotStoppedSpeakingFrame, 1)
            clock.release()
            await run.task.stop_when_done()
    stop = run.of(BotStoppedSpeakingFrame, run.up)
    assert len(stop) == 1
    assert stop[0].interrupted  # type: ignore[attr-defined]
    assert stop[0].played_ms == pytest.approx(played, abs=1e-6)  # type: ignore[attr-defined]
    assert released == chunks * CHUNK
    assert len(out.audio) == released  # nothing was played after the interruption
    assert out.stats.seconds_dropped == pytest.approx(1.0 - released / (2 * RATE))
    assert out.stats.interruptions == 1
    # the downstream copy and the interruption itself went on too
    assert run.of(BotStoppedSpeakingFrame, run.down)
    assert run.of(InterruptionFrame, run.down)


async def test_lead_releases_at_most_one_chunk_ahead() -> None:
    clock = VirtualClock()
    run = _Run(MemoryOutput(clock=clock, lead_ms=20))
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run.task.run)
            await run.task.queue_frame(OutputAudioFrame(audio(400), RATE))
            await run.task.queue_frame(ResponseEndFrame())
            await run.task.stop_when_done()
    times = [t for t, _ in run.out.chunks]
    assert len(times) == 20
    assert times[0] == 0.0
    assert times[1:] == pytest.approx([(n - 1) * 0.02 for n in range(1, 20)])
    # the reply still counts as finished when its last chunk has played, not when sent
    assert run.out.stats.history == [(pytest.approx(400.0), False)]


async def test_speaking_frames_bracket_each_response() -> None:
    clock = VirtualClock()
    run = _Run(MemoryOutput(clock=clock))
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run.task.run)
            for n in range(2):
                await run.task.queue_frame(OutputAudioFrame(audio(60), RATE))
                await run.task.queue_frame(ResponseEndFrame())
                await run.wait_up(BotStoppedSpeakingFrame, n + 1)
            await run.task.stop_when_done()
    speaking = (BotStartedSpeakingFrame, BotStoppedSpeakingFrame)
    kinds = [type(f) for f in run.up if isinstance(f, speaking)]
    assert kinds == [BotStartedSpeakingFrame, BotStoppedSpeakingFrame] * 2
    assert [p for p, _ in run.out.stats.history] == pytest.approx([60.0, 60.0])


async def test_wrong_rate_is_an_error_not_a_crash() -> None:
    run = _Run(MemoryOutput(realtime=False))
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run.task.run)
            await run.task.queue_frame(OutputAudioFrame(bytes(480), 24000))
            await run.task.queue_frame(OutputAudioFrame(audio(20), RATE))
            await run.task.stop_when_done()
    assert [e.code for e in run.task.errors] == ["invalid_audio_format"]
    assert run.out.audio == audio(20)


async def test_real_clock_pacing_sanity() -> None:
    """Half a second on the real clock: chunks leave on schedule (the minute is a benchmark)."""
    run = _Run(MemoryOutput(lead_ms=0))
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run.task.run)
            await run.task.queue_frame(OutputAudioFrame(audio(500), RATE))
            await run.task.queue_frame(ResponseEndFrame())
            await run.task.stop_when_done()
    times = [t - run.out.chunks[0][0] for t, _ in run.out.chunks]
    assert len(times) == 25
    assert all(t >= n * 0.02 - 1e-3 for n, t in enumerate(times))  # never early
    assert times[-1] - 0.48 < 0.015  # the last one on time, within scheduler noise


async def test_doorbell_rings_times_out_and_wakes_a_waiter() -> None:
    bell = Doorbell()
    bell.ring()
    assert await bell.wait(0.0)  # rang before the wait: answered at once
    assert not bell.rung
    with anyio.fail_after(5):
        assert not await bell.wait(0.01)  # nobody rang: times out
        async with anyio.create_task_group() as tg:
            woke: list[bool] = []

            async def waiter() -> None:
                woke.append(await bell.wait(None))

            tg.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            bell.ring()
    assert woke == [True]


class _Streamed(MemoryOutput):
    """MemoryOutput that signals each write and counts the chunks released inline."""

    def __init__(self, *, lead_ms: float) -> None:
        super().__init__(lead_ms=lead_ms)
        self.written = anyio.Event()
        self.inline = 0

    async def write_audio(self, chunk: bytes) -> None:
        await super().write_audio(chunk)
        self.written.set()

    async def _release_inline(self, audio: bytes) -> bool:
        done = await super()._release_inline(audio)
        self.inline += done
        return done


@pytest.mark.parametrize(("lead_ms", "inline"), [(100, 5), (0, 0)])
async def test_live_stream_chunks_are_released_inline_only_when_due(
    lead_ms: float, inline: int
) -> None:
    """Chunks that each arrive once the previous one was sent (faster than real time), on
    the real clock: with a 100 ms lead, the five after the first are due at once and skip
    the play task, the rest wait their turn (more go inline only if the machine stalled
    past their deadline).  Nothing is early, lost or split into two replies."""
    out = _Streamed(lead_ms=lead_ms)
    run = _Run(out)
    blocks = [audio(20, n) for n in range(10)]
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run.task.run)
            for block in blocks:
                out.written = anyio.Event()
                await run.task.queue_frame(OutputAudioFrame(block, RATE))
                await out.written.wait()
            await run.task.queue_frame(ResponseEndFrame())
            await run.wait_up(BotStoppedSpeakingFrame, 1)
            await run.task.stop_when_done()
    assert out.inline >= inline
    assert out.audio == b"".join(blocks)
    assert out.stats.chunks_written == 10
    start = out.chunks[0][0]
    assert all(t - start >= n * 0.02 - lead_ms / 1000 - 1e-3 for n, (t, _) in enumerate(out.chunks))
    stops = run.of(BotStoppedSpeakingFrame, run.up)
    assert len(stops) == 1 and not stops[0].interrupted  # type: ignore[attr-defined]
    assert stops[0].played_ms == pytest.approx(200.0, abs=0.5)  # type: ignore[attr-defined]
    assert len(run.of(BotStartedSpeakingFrame, run.up)) == 1


async def test_interruption_during_an_inline_stream_reports_what_was_heard() -> None:
    out = _Streamed(lead_ms=100)
    run = _Run(out)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run.task.run)
            for n in range(5):
                out.written = anyio.Event()
                await run.task.queue_frame(OutputAudioFrame(audio(20, n), RATE))
                await out.written.wait()
            await run.task.queue_frame(InterruptionFrame())
            await run.wait_up(BotStoppedSpeakingFrame, 1)
            await run.task.stop_when_done()
    assert out.inline == 4
    stop = run.of(BotStoppedSpeakingFrame, run.up)
    assert len(stop) == 1 and stop[0].interrupted  # type: ignore[attr-defined]
    # heard is what was released minus what is still in flight: never more than sent
    assert 0.0 <= stop[0].played_ms <= 100.0 + 1e-6  # type: ignore[attr-defined]
    assert out.stats.interruptions == 1
