"""Stopping: the stop deadline, and the release of what processors opened on every exit path."""

from __future__ import annotations

import time

import anyio
import anyio.lowlevel
import pytest

from beluga_voice.frames import Direction, Frame, StartFrame, TextFrame
from beluga_voice.pipeline import FrameProcessor, PipelineTask
from beluga_voice.testing import run_pipeline

pytestmark = [pytest.mark.anyio, pytest.mark.engine, pytest.mark.usefixtures("engine_mode")]


class Stuck(FrameProcessor):
    """Never returns from the frame it is given: a broken processor."""

    def __init__(self) -> None:
        super().__init__(name="stuck-one")
        self.entered = anyio.Event()

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, TextFrame):
            self.entered.set()
            await anyio.sleep_forever()
        await self.push_frame(frame, direction)


@pytest.mark.parametrize("how", ["end", "cancel"])
async def test_stop_timeout_is_the_whole_budget_and_the_wait_costs_no_cpu(how: str) -> None:
    """A stuck processor cannot hang shutdown: it is named, and the run ends at the
    deadline, not a second ``stop_timeout`` later (the runner used to poll the stuck
    processor for another full timeout after the watchdog fired, at 100% CPU)."""
    stuck = Stuck()
    # 1 s, so that a loaded machine's scheduling delays stay well inside the margin below
    # while the old runner's second timeout (2 s or more) would still fail it.
    task = PipelineTask([FrameProcessor(), stuck, FrameProcessor()], stop_timeout=1.0)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            await task.queue_frame(TextFrame("x"))
            await stuck.entered.wait()
            start, cpu = anyio.current_time(), time.process_time()
            await (task.stop_when_done() if how == "end" else task.cancel())
        elapsed = anyio.current_time() - start
        cpu = time.process_time() - cpu
    assert task.stuck == ["stuck-one (handling TextFrame)"]
    assert 1.0 <= elapsed < 1.0 + 0.8, elapsed  # the old runner took 2.0 s or more
    assert cpu < 0.1, f"{cpu:.3f} s of CPU spent waiting {elapsed:.3f} s"


class Holder(FrameProcessor):
    """Opens a 'connection' at start and releases it in its hooks; can be made to block
    in process_frame (``stuck``) or in its own on_stop (``slow_stop``)."""

    def __init__(self, *, stuck: bool = False, slow_stop: bool = False) -> None:
        super().__init__(name="holder")
        self.stuck = stuck
        self.slow_stop = slow_stop
        self.entered = anyio.Event()
        self.open = False
        self.released_by: str | None = None

    async def on_start(self, frame: StartFrame) -> None:
        self.open = True

    async def on_stop(self) -> None:
        if self.slow_stop:
            self.entered.set()
            await anyio.sleep_forever()
        self._release("on_stop")

    async def on_cleanup(self) -> None:
        await anyio.lowlevel.checkpoint()  # it may await: it is shielded from the cancel
        self._release("on_cleanup")

    def _release(self, by: str) -> None:
        if self.open:
            self.open = False
            self.released_by = by

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if self.stuck and isinstance(frame, TextFrame):
            self.entered.set()
            await anyio.sleep_forever()
        await self.push_frame(frame, direction)


@pytest.mark.parametrize("where", ["busy", "in_on_stop", "graceful"])
async def test_what_a_processor_opened_is_released_on_every_exit_path(where: str) -> None:
    holder = Holder(stuck=where == "busy", slow_stop=where == "in_on_stop")
    task = PipelineTask([FrameProcessor(), holder], stop_timeout=0.2)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            await task.queue_frame(TextFrame("x"))
            if where == "busy":
                await holder.entered.wait()
            await task.stop_when_done()
    assert not holder.open
    assert holder.released_by == ("on_stop" if where == "graceful" else "on_cleanup")
    assert task.errors == []


async def test_a_cleanup_that_hangs_is_cut_at_its_own_deadline_and_reported() -> None:
    class Hangs(FrameProcessor):
        async def on_cleanup(self) -> None:
            await anyio.sleep_forever()

    task = PipelineTask([Hangs(name="hangs")], stop_timeout=0.2, cleanup_timeout=0.2)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            start = anyio.current_time()
            await task.stop_when_done()
        elapsed = anyio.current_time() - start
    assert elapsed < 1.0
    assert [(e.source, e.code) for e in task.errors] == [("hangs", "timeout")]


async def test_a_failing_cleanup_is_reported_not_raised() -> None:
    class Fails(FrameProcessor):
        async def on_cleanup(self) -> None:
            raise OSError("device gone")

    _, task = await run_pipeline([Fails(name="fails")], [TextFrame("x")])
    assert [(e.source, type(e.cause)) for e in task.errors] == [("fails", OSError)]


async def test_asking_a_jammed_pipeline_to_stop_returns_by_the_deadline() -> None:
    """Even the EndFrame cannot be queued when every inbox is full behind a stuck
    processor: ``stop_when_done`` must not wait for room forever."""
    stuck = Stuck()
    task = PipelineTask([FrameProcessor(), stuck], stop_timeout=0.3, inbox_capacity=1)
    ran = anyio.Event()

    async def run() -> None:
        await task.run()
        ran.set()

    async def produce() -> None:
        try:
            for i in range(100):
                await task.queue_frame(TextFrame(str(i)))
        except anyio.ClosedResourceError:  # the run ended: the pipeline takes no more
            pass

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            tg.start_soon(produce)  # jams: blocked on a full inbox
            await stuck.entered.wait()
            await anyio.wait_all_tasks_blocked()
            start = anyio.current_time()
            with anyio.fail_after(1):
                await task.stop_when_done()
                await ran.wait()
            elapsed = anyio.current_time() - start
            tg.cancel_scope.cancel()  # the producer, still waiting for room
    assert 0.3 <= elapsed < 0.3 + 0.5
    assert "stuck-one (handling TextFrame)" in task.stuck


class _Finisher(FrameProcessor):
    """Waits in on_end for a reply that a processor after it sends back upstream."""

    def __init__(self, wait_forever: bool = False) -> None:
        super().__init__(name="finisher")
        self.replied = anyio.Event()
        self.seen: list[str] = []
        self.wait_forever = wait_forever
        self.ending = anyio.Event()

    async def on_end(self) -> None:
        self.ending.set()
        await self.serving_upstream(anyio.sleep_forever if self.wait_forever else self.replied.wait)

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if direction is Direction.UPSTREAM and isinstance(frame, TextFrame):
            self.seen.append(frame.text)
            self.replied.set()
        await self.push_frame(frame, direction)


class _LateReplier(FrameProcessor):
    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        await self.push_frame(frame, direction)
        if isinstance(frame, TextFrame) and direction is Direction.DOWNSTREAM:
            self.create_task(self._reply)

    async def _reply(self) -> None:
        await anyio.lowlevel.checkpoint()  # later, from a task of its own
        await self.push_frame(TextFrame("the answer"), Direction.UPSTREAM)


async def test_upstream_frames_are_handled_while_on_end_waits_for_them() -> None:
    """The answer owed at the end of the stream may come back upstream from a processor
    after the one that waits for it (external reasoning behind an S2S processor)."""
    finisher = _Finisher()
    with anyio.fail_after(5):
        _, task = await run_pipeline([finisher, _LateReplier()], [TextFrame("question")])
    assert finisher.seen == ["the answer"]
    assert not task.errors and not task.stuck


async def test_a_cancel_cuts_the_wait_of_on_end_short() -> None:
    finisher = _Finisher(wait_forever=True)
    task = PipelineTask([finisher], stop_timeout=5.0)
    started = time.monotonic()
    async with anyio.create_task_group() as tg:
        tg.start_soon(task.run)
        await task.stop_when_done()
        with anyio.fail_after(5):
            await finisher.ending.wait()
        await task.cancel()  # overtakes the End's wait: not the deadline
    assert time.monotonic() - started < 2.0
    assert not task.stuck


async def test_on_end_serving_upstream_also_works_when_the_end_is_handed_over_directly() -> None:
    """An idle processor takes the End by direct hand-off, in the pusher's turn; its wait
    for upstream frames must then move to its own task (the inbox's one waiter is its)."""
    finisher = _Finisher()
    task = PipelineTask([finisher, _LateReplier()], stop_timeout=5.0)
    started = time.monotonic()
    async with anyio.create_task_group() as tg:
        tg.start_soon(task.run)
        await task.queue_frame(TextFrame("question"))
        await anyio.wait_all_tasks_blocked()  # everyone idle: the End is handed over
        await task.stop_when_done()
    assert finisher.seen == ["the answer"]
    assert time.monotonic() - started < 2.0 and not task.stuck
