"""The engine: ordering, priority, flow directions, composition, errors and shutdown."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from beluga_voice.frames import (
    CancelFrame,
    Direction,
    EndFrame,
    ErrorFrame,
    Frame,
    InputAudioFrame,
    InterruptionFrame,
    StartFrame,
    TextFrame,
    UserStartedSpeakingFrame,
)
from beluga_voice.pipeline import FrameProcessor, Pipeline, PipelineTask
from beluga_voice.testing import run_pipeline

pytestmark = [pytest.mark.anyio, pytest.mark.engine, pytest.mark.usefixtures("engine_mode")]


class Tag(FrameProcessor):
    """Appends a tag to text frames (the five-line transformer of the docs)."""

    def __init__(self, tag: str) -> None:
        super().__init__(name=f"Tag{tag}")
        self.tag = tag

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, TextFrame):
            frame = TextFrame(frame.text + self.tag)
        await self.push_frame(frame, direction)


class Gate(FrameProcessor):
    """Holds the first text frame until released, so that frames pile up behind it."""

    def __init__(self) -> None:
        super().__init__(name="Gate")
        self.holding = anyio.Event()
        self.release = anyio.Event()
        self.seen: list[Frame] = []

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        self.seen.append(frame)
        if isinstance(frame, TextFrame) and not self.holding.is_set():
            self.holding.set()
            await self.release.wait()
        await self.push_frame(frame, direction)


def texts(frames: list[Frame]) -> list[str]:
    return [f.text for f in frames if isinstance(f, TextFrame)]


async def test_frames_keep_their_order_through_processors() -> None:
    frames = [TextFrame(str(i)) for i in range(500)]
    out, task = await run_pipeline([Tag("a"), Tag("b"), Tag("c")], frames)
    assert texts(out) == [f"{i}abc" for i in range(500)]
    assert isinstance(out[0], StartFrame) and isinstance(out[-1], EndFrame)
    assert task.errors == []


async def test_nested_pipelines_behave_like_a_flat_one() -> None:
    nested = Pipeline([Tag("1"), Pipeline([Tag("2"), Pipeline([Tag("3")])]), Tag("4")])
    out, _ = await run_pipeline([nested], [TextFrame("x")])
    assert texts(out) == ["x1234"]
    assert [p.name for p in nested.processors()] == ["Tag1", "Tag2", "Tag3", "Tag4"]


async def _run_gated(gate: Gate, queued: list[Frame], *, tail: list[FrameProcessor] = ()):
    out: list[Frame] = []

    async def collect(frame: Frame) -> None:
        out.append(frame)

    task = PipelineTask([gate, *tail], on_output=collect)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            await task.queue_frame(TextFrame("first"))
            await gate.holding.wait()
            await task.queue_frames(queued)
            gate.release.set()
            await task.stop_when_done()
    return out, task


async def test_system_frames_overtake_queued_data() -> None:
    gate = Gate()
    speaking = UserStartedSpeakingFrame()
    out, _ = await _run_gated(gate, [TextFrame("a"), TextFrame("b"), speaking])
    seen = [f for f in gate.seen if not isinstance(f, (StartFrame, EndFrame))]
    assert seen[0].text == "first"  # was already being handled
    assert seen[1] is speaking  # overtook "a" and "b", queued before it
    assert texts(seen[2:]) == ["a", "b"]
    assert texts(out) == ["first", "a", "b"] and speaking in out


async def test_interruption_flushes_interruptible_frames_but_spares_user_audio() -> None:
    gate = Gate()
    audio = InputAudioFrame(b"\x01\x00" * 160, 16000)
    interruption = InterruptionFrame()
    out, task = await _run_gated(
        gate, [TextFrame("stale1"), audio, TextFrame("stale2"), interruption], tail=[Tag("!")]
    )
    seen = [f for f in gate.seen if not isinstance(f, (StartFrame, EndFrame))]
    assert texts(seen) == ["first"]
    assert seen[1:] == [interruption, audio]  # the user audio survived, in order
    assert interruption in out and audio in out
    assert "stale1!" not in texts(out) and "stale2!" not in texts(out)
    # "first!" left the gate just ahead of the interruption, which may overtake it later.
    lost_first = "first!" not in texts(out)
    assert sum(p.frames_dropped for p in task.processors) == 2 + lost_first


async def test_interruption_spares_frames_queued_after_it() -> None:
    """The start of a new reply queued behind the interruption is not thrown away."""
    gate = Gate()
    out, _ = await _run_gated(gate, [TextFrame("stale"), InterruptionFrame(), TextFrame("fresh")])
    seen = texts([f for f in gate.seen if isinstance(f, TextFrame)])
    assert seen == ["first", "fresh"]
    assert "fresh" in texts(out) and "stale" not in texts(out)


async def test_interruption_flushes_each_processor_it_passes() -> None:
    """Frames already queued two hops down are dropped when the interruption gets there."""

    class Hold(FrameProcessor):
        def __init__(self) -> None:
            super().__init__(name="Hold")
            self.release = anyio.Event()
            self.started = anyio.Event()

        async def process_frame(self, frame: Frame, direction: Direction) -> None:
            if isinstance(frame, TextFrame) and frame.text == "block":
                self.started.set()
                await self.release.wait()
            await self.push_frame(frame, direction)

    hold = Hold()
    out: list[Frame] = []

    async def collect(frame: Frame) -> None:
        out.append(frame)

    task = PipelineTask([Tag(""), hold], on_output=collect)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            await task.queue_frames([TextFrame("block"), TextFrame("x"), TextFrame("y")])
            await hold.started.wait()
            # "x" and "y" have now passed the first processor and wait in Hold's inbox.
            while hold.queue_depth < 2:
                await anyio.wait_all_tasks_blocked()
            await task.queue_frame(InterruptionFrame())
            while not hold.system_frames_waiting:  # the interruption reached Hold's lane
                await anyio.wait_all_tasks_blocked()
            hold.release.set()
            await task.stop_when_done()
    # "block" left Hold just ahead of the interruption, which may overtake it at the tail.
    assert texts(out) in ([], ["block"])
    assert hold.frames_dropped == 2


async def test_upstream_frames_travel_back_to_the_head() -> None:
    class Echo(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: Direction) -> None:
            if isinstance(frame, TextFrame) and direction is Direction.DOWNSTREAM:
                await self.push_frame(TextFrame("back:" + frame.text), Direction.UPSTREAM)
            await self.push_frame(frame, direction)

    upstream: list[Frame] = []

    async def on_up(frame: Frame) -> None:
        upstream.append(frame)

    seen_up: list[str] = []

    class Watch(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: Direction) -> None:
            if direction is Direction.UPSTREAM and isinstance(frame, TextFrame):
                seen_up.append(frame.text)
            await self.push_frame(frame, direction)

    out, _ = await run_pipeline([Watch(), Echo()], [TextFrame("hi")], on_upstream=on_up)
    assert texts(upstream) == ["back:hi"]
    assert seen_up == ["back:hi"]
    assert texts(out) == ["hi"]


async def test_exception_becomes_error_frame_and_pipeline_goes_on() -> None:
    class Boom(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: Direction) -> None:
            if isinstance(frame, TextFrame) and frame.text == "boom":
                raise RuntimeError("kaput")
            await self.push_frame(frame, direction)

    boom = Boom(name="boomer")
    out, task = await run_pipeline([Tag(""), boom], [TextFrame("boom"), TextFrame("ok")])
    assert texts(out) == ["ok"]
    assert len(task.errors) == 1
    err = task.errors[0]
    assert err.source == "boomer" and not err.fatal
    assert isinstance(err.cause, RuntimeError) and "kaput" in err.message


async def test_fatal_error_stops_the_pipeline() -> None:
    class Fatal(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: Direction) -> None:
            if isinstance(frame, TextFrame):
                await self.push_error("cannot go on", code="invalid_config", fatal=True)
                return
            await self.push_frame(frame, direction)

    out: list[Frame] = []

    async def collect(frame: Frame) -> None:
        out.append(frame)

    task = PipelineTask([Fatal()], on_output=collect)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            await task.queue_frame(TextFrame("x"))
    assert any(isinstance(f, CancelFrame) for f in out)
    assert [e.code for e in task.errors] == ["invalid_config"]


async def test_failing_on_start_is_fatal() -> None:
    class BadStart(FrameProcessor):
        async def on_start(self, frame: StartFrame) -> None:
            raise ValueError("no device")

    task = PipelineTask([BadStart(name="bad")])
    with anyio.fail_after(5):
        await task.run()
    assert task.errors and task.errors[0].fatal and task.errors[0].source == "bad"


async def test_cancel_overtakes_queued_frames() -> None:
    gate = Gate()
    out: list[Frame] = []

    async def collect(frame: Frame) -> None:
        out.append(frame)

    task = PipelineTask([gate], on_output=collect)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            await task.queue_frame(TextFrame("first"))
            await gate.holding.wait()
            await task.queue_frames([TextFrame(str(i)) for i in range(10)])
            await task.cancel()
            gate.release.set()
    # "first" was in the gate's hands; whether it beats the cancel to the tail is a race
    # it may lose.  None of the ten frames queued behind it may come out.
    assert texts(out) in ([], ["first"])
    assert isinstance(out[-1], CancelFrame)


async def test_queues_never_exceed_their_bound_with_a_slow_consumer() -> None:
    capacity = 8
    gate = Gate()
    procs = [Tag(str(i)) for i in range(4)]
    worst: dict[str, int] = {}

    class DepthWatch:
        def on_push(self, source: FrameProcessor, frame: Frame, direction: Direction) -> None:
            for p in [*procs, gate]:
                worst[p.name] = max(worst.get(p.name, 0), p.queue_depth)

    task = PipelineTask([*procs, gate], inbox_capacity=capacity, observers=[DepthWatch()])
    produced = 0
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)

            async def produce() -> None:
                nonlocal produced
                for i in range(1000):
                    await task.queue_frame(TextFrame(str(i)))
                    produced += 1

            tg.start_soon(produce)
            await gate.holding.wait()
            await anyio.wait_all_tasks_blocked()
            # The consumer is stuck: the producer must be held back, not buffering 1000.
            # Six inboxes (head, four tags, gate) of `capacity`, plus one frame in the hand
            # of each processor and of the producer.
            assert produced <= 6 * (capacity + 1) + 1
            gate.release.set()
            while produced < 1000:
                await anyio.lowlevel.checkpoint()
            await task.stop_when_done()
    assert max(worst.values()) <= capacity
    assert len(gate.seen) >= 1000


async def test_observer_failure_does_not_break_the_pipeline() -> None:
    class Broken:
        def on_push(self, source: FrameProcessor, frame: Frame, direction: Direction) -> None:
            raise RuntimeError("observer bug")

    out, task = await run_pipeline([Tag("a")], [TextFrame("x")], observers=[Broken()])
    assert texts(out) == ["xa"]
    assert task.errors == []


async def test_a_task_runs_once() -> None:
    task = PipelineTask([Tag("a")])
    async with anyio.create_task_group() as tg:
        tg.start_soon(task.run)
        await task.stop_when_done()
    with pytest.raises(RuntimeError, match="runs once"):
        await task.run()


async def test_create_task_errors_are_reported_and_tasks_stop_with_the_processor() -> None:
    cancelled = anyio.Event()

    class Background(FrameProcessor):
        async def on_start(self, frame: StartFrame) -> None:
            self.create_task(self._forever)
            self.create_task(self._fail)

        async def _forever(self) -> None:
            try:
                await anyio.sleep_forever()
            finally:
                cancelled.set()

        async def _fail(self) -> None:
            raise OSError("device gone")

    out, task = await run_pipeline([Background(name="bg")], [])
    assert cancelled.is_set()
    assert [(e.source, type(e.cause)) for e in task.errors] == [("bg", OSError)]
    assert isinstance(out[-1], EndFrame)


async def test_error_frames_are_system_frames() -> None:
    assert ErrorFrame("x").kind.name == "SYSTEM"
    assert not TextFrame("x").uninterruptible and InputAudioFrame(b"", 8000).uninterruptible
