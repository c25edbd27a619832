"""Direct hand-off: an idle processor takes a pushed frame at once, yet behaves as if queued."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from anyio import wait_all_tasks_blocked

from beluga_voice.frames import Direction, Frame, StartFrame, TextFrame
from beluga_voice.pipeline import FrameProcessor, PipelineTask
from beluga_voice.testing import run_pipeline

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "uvloop"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    """Every hand-off promise holds on uvloop too (``serve`` uses it when installed)."""
    if request.param == "uvloop":
        pytest.importorskip("uvloop")
        return ("asyncio", {"use_uvloop": True})
    return ("asyncio", {})


_var: contextvars.ContextVar[str] = contextvars.ContextVar("handoff_test", default="unset")


class Recorder(FrameProcessor):
    """Notes, for each text frame, the task handling it and what it saw."""

    def __init__(self, name: str = "Recorder") -> None:
        super().__init__(name=name)
        self.seen: list[str] = []
        self.tasks: set[asyncio.Task[object] | None] = set()

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, TextFrame):
            self.seen.append(frame.text)
            self.tasks.add(asyncio.current_task())
        await self.push_frame(frame, direction)


@contextlib.asynccontextmanager
async def idle(
    nodes: list[FrameProcessor],
    on_output: Callable[[Frame], Awaitable[None]] | None = None,
    **task_kwargs: Any,
) -> AsyncIterator[PipelineTask]:
    """A running pipeline whose processors are all parked on empty inboxes; ended on exit."""
    started = anyio.Event()

    async def output(frame: Frame) -> None:
        if isinstance(frame, StartFrame):
            started.set()
        elif on_output is not None:
            await on_output(frame)

    task = PipelineTask(nodes, on_output=output, **task_kwargs)
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            await started.wait()
            await wait_all_tasks_blocked()
            yield task
            await task.stop_when_done()


@pytest.mark.parametrize("handoff", [True, False], ids=["handoff", "queued"])
async def test_an_idle_processor_takes_the_frame_before_the_push_returns(handoff: bool) -> None:
    rec = Recorder()
    async with idle([rec], direct_handoff=handoff) as task:
        await task.queue_frame(TextFrame("now"))
        seen_at_once = list(rec.seen)
    assert seen_at_once == (["now"] if handoff else [])
    assert rec.seen == ["now"]


async def test_frames_are_handled_as_the_processors_own_task() -> None:
    rec = Recorder()
    producer_task = asyncio.current_task()
    async with idle([rec]) as task:
        for i in range(20):
            await task.queue_frame(TextFrame(str(i)))  # direct: the processor is idle
    assert rec.seen == [str(i) for i in range(20)]
    assert len(rec.tasks) == 1 and producer_task not in rec.tasks


class Suspender(FrameProcessor):
    """Waits inside a cancel scope on the first text frame: a handler that suspends."""

    def __init__(self) -> None:
        super().__init__(name="Suspender")
        self.waiting = anyio.Event()
        self.release = anyio.Event()
        self.order: list[str] = []
        self.tasks: list[asyncio.Task[object] | None] = []

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, TextFrame):
            self.order.append(f"enter {frame.text}")
            self.tasks.append(asyncio.current_task())
            if frame.text == "first":
                with anyio.move_on_after(10):  # entered before, left after the suspension
                    self.waiting.set()
                    await self.release.wait()
                self.tasks.append(asyncio.current_task())
            self.order.append(f"leave {frame.text}")
        await self.push_frame(frame, direction)


async def test_a_handler_that_suspends_is_carried_on_by_its_task_in_order() -> None:
    sus = Suspender()
    out: list[str] = []

    async def on_output(frame: Frame) -> None:
        if isinstance(frame, TextFrame):
            out.append(frame.text)

    async with idle([sus], on_output) as task:
        await task.queue_frame(TextFrame("first"))  # returns although "first" waits
        assert sus.waiting.is_set()
        await task.queue_frame(TextFrame("second"))  # the processor is busy: queued
        assert sus.order == ["enter first"]
        sus.release.set()
    assert sus.order == ["enter first", "leave first", "enter second", "leave second"]
    assert out == ["first", "second"]
    assert len(set(sus.tasks)) == 1  # the same task before and after the suspension
    assert task.errors == []  # the cancel scope was left in the task that entered it


class Remember(FrameProcessor):
    """Sets a context variable on one frame and reads it on the next."""

    def __init__(self) -> None:
        super().__init__(name="Remember")
        self.read: list[str] = []

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, TextFrame):
            self.read.append(_var.get())
            _var.set(frame.text)
        await self.push_frame(frame, direction)


async def test_context_variables_belong_to_the_processor_not_the_pusher() -> None:
    rem = Remember()
    async with idle([rem]) as task:
        await task.queue_frame(TextFrame("a"))
        await task.queue_frame(TextFrame("b"))
        await wait_all_tasks_blocked()
        await task.queue_frame(TextFrame("c"))
        producer_sees = _var.get()
    assert rem.read == ["unset", "a", "b"]
    assert producer_sees == "unset"


class Bouncer(FrameProcessor):
    """Answers each downstream text frame with one upstream."""

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        await self.push_frame(frame, direction)
        if isinstance(frame, TextFrame) and direction is Direction.DOWNSTREAM:
            await self.push_frame(TextFrame(f"re {frame.text}"), Direction.UPSTREAM)


class Nesting(FrameProcessor):
    """Records when it enters and leaves a handler, to catch re-entry."""

    def __init__(self) -> None:
        super().__init__(name="Nesting")
        self.events: list[str] = []

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, TextFrame):
            self.events.append(f"in {frame.text}")
        await self.push_frame(frame, direction)
        if isinstance(frame, TextFrame):
            self.events.append(f"out {frame.text}")


async def test_a_busy_processor_is_never_reentered() -> None:
    nest = Nesting()
    _, task = await run_pipeline([nest, Bouncer()], [TextFrame("x")])
    assert nest.events == ["in x", "out x", "in re x", "out re x"]
    assert task.errors == []


async def test_a_producer_that_never_yields_does_not_starve_the_loop() -> None:
    ticks = 0
    ticks_while_producing = 0
    stop = anyio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await anyio.lowlevel.checkpoint()

    rec = Recorder()
    nodes = [rec, FrameProcessor(), FrameProcessor()]
    async with idle(nodes) as task, anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        await anyio.lowlevel.checkpoint()
        before = ticks
        for i in range(5000):  # nothing here awaits but the queueing itself
            await task.queue_frame(TextFrame(str(i)))
        ticks_while_producing = ticks - before
        stop.set()
    assert rec.seen == [str(i) for i in range(5000)]
    assert ticks_while_producing > 0


async def test_a_deep_chain_neither_overflows_nor_reorders() -> None:
    chain = [Recorder(name=f"R{i}") for i in range(1500)]
    texts: list[str] = []

    async def on_output(frame: Frame) -> None:
        if isinstance(frame, TextFrame):
            texts.append(frame.text)

    async with idle(chain, on_output) as task:  # all idle: each frame is handed on and on
        for i in range(20):
            await task.queue_frame(TextFrame(str(i)))
    assert texts == [str(i) for i in range(20)]
    assert all(r.seen == texts for r in chain)
    assert task.errors == []


async def test_a_processor_can_opt_out() -> None:
    class Queued(Recorder):
        direct_handoff = False

    rec = Queued()
    async with idle([rec]) as task:
        await task.queue_frame(TextFrame("later"))
        seen_at_once = list(rec.seen)
    assert seen_at_once == [] and rec.seen == ["later"]


class Impatient(FrameProcessor):
    """Gives up at once on the first text frame: a timeout that fires during the hand-over."""

    def __init__(self) -> None:
        super().__init__(name="Impatient")
        self.outcomes: list[str] = []

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, TextFrame):
            try:
                async with asyncio.timeout(0):
                    await anyio.Event().wait()
                self.outcomes.append(f"{frame.text}: waited")
            except TimeoutError:
                self.outcomes.append(f"{frame.text}: timed out")
        await self.push_frame(frame, direction)


async def test_a_timeout_striking_while_a_suspended_handler_changes_task_reaches_it() -> None:
    imp = Impatient()
    async with idle([imp]) as task:
        await task.queue_frame(TextFrame("a"))
        await wait_all_tasks_blocked()
        await task.queue_frame(TextFrame("b"))
    assert imp.outcomes == ["a: timed out", "b: timed out"]
    assert task.errors == [] and not task.stuck
