"""Two hundred pipelines started and stopped past their deadline leave nothing behind.

Each pipeline holds a live provider session (an S2S processor) in front of a processor that
never returns, so every stop ends by the watchdog cancelling a busy pipeline: the worst
exit path.  Tasks, threads, file descriptors and provider slots are counted before and after.
"""

from __future__ import annotations

import gc
import time

import anyio
import pytest

from beluga_voice.frames import Direction, Frame, OutputAudioFrame, TextFrame
from beluga_voice.pipeline import FrameProcessor, PipelineTask
from beluga_voice.processors.s2s import S2SProcessor
from beluga_voice.providers.mock import AdvancedMockS2SProvider
from beluga_voice.testing.speech import tone

from ._support import Held

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

STOP_TIMEOUT = 0.05


class NeverReturns(FrameProcessor):
    """Stuck for good on the first reply audio it is given: a broken processor."""

    def __init__(self) -> None:
        super().__init__(name="never-returns")
        self.entered = anyio.Event()

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, OutputAudioFrame):
            self.entered.set()
            await anyio.sleep_forever()
        await self.push_frame(frame, direction)


async def _cycle(provider: AdvancedMockS2SProvider) -> float:
    """One pipeline run, stopped while stuck; returns how long the stop took."""
    stuck = NeverReturns()
    task = PipelineTask(
        [S2SProcessor(provider), stuck], stop_timeout=STOP_TIMEOUT, inbox_capacity=2
    )
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            await task.queue_frame(TextFrame("hello"))
            await stuck.entered.wait()
            start = anyio.current_time()
            await task.cancel()
        return anyio.current_time() - start


async def test_two_hundred_stuck_pipelines_leave_nothing_behind() -> None:
    provider = AdvancedMockS2SProvider(audio_outputs=[tone(2.0, 24000)])
    await _cycle(provider)  # warm-up: pools that live for the process exist before counting
    gc.collect()
    before = Held.now()
    cpu = time.process_time()
    stops = [await _cycle(provider) for _ in range(200)]
    cpu = time.process_time() - cpu
    gc.collect()
    after = Held.now()
    assert provider.limiter.in_use == 0, "a provider slot outlived its pipeline"
    assert all(s.closed for s in provider.sessions), "a provider session outlived its pipeline"
    assert after == before
    # stop_timeout is the whole deadline, and nothing spins while it runs out.
    assert max(stops) < STOP_TIMEOUT + 0.5, max(stops)
    assert sorted(stops)[len(stops) // 2] < STOP_TIMEOUT * 1.6, sorted(stops)[len(stops) // 2]
    assert cpu < 200 * STOP_TIMEOUT, f"{cpu:.2f} s of CPU for 200 stops of {STOP_TIMEOUT} s"
