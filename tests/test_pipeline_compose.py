"""Parallel and Branch semantics, frame validation, and start/stop hygiene."""

from __future__ import annotations

import random

import anyio
import pytest

from beluga_voice.frames import (
    AudioFrame,
    CancelFrame,
    Direction,
    EndFrame,
    Frame,
    InputAudioFrame,
    InterruptionFrame,
    OutputAudioFrame,
    StartFrame,
    TextFrame,
)
from beluga_voice.pipeline import Branch, FrameProcessor, Parallel, PipelineTask, QueueObserver
from beluga_voice.testing import run_pipeline

pytestmark = [pytest.mark.anyio, pytest.mark.engine, pytest.mark.usefixtures("engine_mode")]


class Tag(FrameProcessor):
    def __init__(self, tag: str) -> None:
        super().__init__(name=f"Tag{tag}")
        self.tag = tag
        self.started = self.stopped_seen = 0

    async def on_start(self, frame: StartFrame) -> None:
        self.started += 1

    async def on_stop(self) -> None:
        self.stopped_seen += 1

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, TextFrame):
            frame = TextFrame(frame.text + self.tag)
        await self.push_frame(frame, direction)


class Slow(FrameProcessor):
    """Passes frames on only when released: a branch that lags behind."""

    def __init__(self) -> None:
        super().__init__(name="Slow")
        self.release = anyio.Event()

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, TextFrame):
            await self.release.wait()
        await self.push_frame(frame, direction)


def texts(frames: list[Frame]) -> list[str]:
    return [f.text for f in frames if isinstance(f, TextFrame)]


async def test_parallel_fans_out_and_merges_once() -> None:
    a, b = Tag("a"), Tag("b")
    passthrough = FrameProcessor(name="pass")
    out, _ = await run_pipeline([Parallel([[a], [b], [passthrough]])], [TextFrame("x")])
    assert sorted(texts(out)) == ["x", "xa", "xb"]
    # Start and End went through every branch but leave once.
    assert sum(isinstance(f, StartFrame) for f in out) == 1
    assert sum(isinstance(f, EndFrame) for f in out) == 1
    assert a.started == b.started == 1 and a.stopped_seen == b.stopped_seen == 1


async def test_parallel_end_waits_for_every_branch_to_drain() -> None:
    slow = Slow()
    out: list[Frame] = []
    end_seen = anyio.Event()

    async def collect(frame: Frame) -> None:
        out.append(frame)
        if isinstance(frame, EndFrame):
            end_seen.set()

    task = PipelineTask([Parallel([[Tag("fast")], [slow]])], on_output=collect)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            await task.queue_frame(TextFrame("x"))
            await task.stop_when_done()
            await anyio.wait_all_tasks_blocked()
            assert not end_seen.is_set()  # the slow branch still holds "x"
            slow.release.set()
    assert texts(out)[-1] == "x" and isinstance(out[-1], EndFrame)


async def test_parallel_merges_upstream_frames_too() -> None:
    class Up(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: Direction) -> None:
            if isinstance(frame, TextFrame) and frame.text == "xa":
                await self.push_frame(InterruptionFrame(), Direction.UPSTREAM)
                return
            await self.push_frame(frame, direction)

    upstream: list[Frame] = []

    async def on_up(frame: Frame) -> None:
        upstream.append(frame)

    # The interruption sent upstream from below the Parallel enters both branches and
    # must leave the top once.
    await run_pipeline(
        [Parallel([[Tag("a")], [Tag("b")]]), Up()], [TextFrame("x")], on_upstream=on_up
    )
    assert sum(isinstance(f, InterruptionFrame) for f in upstream) == 1


async def test_branch_routes_data_and_broadcasts_system_frames() -> None:
    s2s, cascade = Tag("S"), Tag("C")
    mode = {"value": "s2s"}
    branch = Branch(
        [
            (lambda f: mode["value"] == "s2s", [s2s]),
            (lambda f: mode["value"] == "cascade", [cascade]),
        ]
    )
    seen: list[tuple[str, Frame]] = []

    class Spy:
        def on_push(self, source: FrameProcessor, frame: Frame, direction: Direction) -> None:
            if isinstance(frame, InterruptionFrame):
                seen.append((source.name, frame))

    out: list[Frame] = []

    async def collect(frame: Frame) -> None:
        out.append(frame)

    task = PipelineTask([branch], on_output=collect, observers=[Spy()])
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            await task.queue_frame(TextFrame("1"))
            await anyio.wait_all_tasks_blocked()  # "1" is out before the interruption
            await task.queue_frame(InterruptionFrame())
            await anyio.wait_all_tasks_blocked()
            mode["value"] = "cascade"
            await task.queue_frame(TextFrame("2"))
            await task.stop_when_done()
    assert texts(out) == ["1S", "2C"]
    # the interruption passed through both branches and left once
    assert {name for name, _ in seen} >= {"TagS", "TagC"}
    assert sum(isinstance(f, InterruptionFrame) for f in out) == 1
    assert s2s.started == cascade.started == 1


async def test_branch_default_and_bypass() -> None:
    only_audio = Branch([(lambda f: isinstance(f, InputAudioFrame), [Tag("A")])])
    out, _ = await run_pipeline([only_audio], [TextFrame("t")])
    assert texts(out) == ["t"]  # no route: goes around the branches unchanged
    with_default = Branch([(lambda f: False, [Tag("A")])], default=[Tag("D")])
    out, _ = await run_pipeline([with_default], [TextFrame("t")])
    assert texts(out) == ["tD"]


def test_audio_frames_validate_their_payload() -> None:
    with pytest.raises(ValueError, match="multiple of"):
        InputAudioFrame(b"\x00" * 3, 16000)
    with pytest.raises(ValueError, match="multiple of"):
        OutputAudioFrame(b"\x00" * 6, 16000, channels=2)
    with pytest.raises(ValueError, match="sample_rate"):
        InputAudioFrame(b"", 0)
    with pytest.raises(ValueError, match="channels"):
        InputAudioFrame(b"", 16000, channels=0)
    frame = OutputAudioFrame(b"\x00" * 640, 16000)
    assert frame.num_samples == 320 and frame.duration == pytest.approx(0.02)
    assert isinstance(frame, AudioFrame) and not frame.uninterruptible


def test_frames_have_no_instance_dict() -> None:
    """Slotted frames: creating one allocates no per-frame dict."""
    for frame in (TextFrame("x"), InputAudioFrame(b"", 8000), EndFrame(), CancelFrame()):
        assert not hasattr(frame, "__dict__")


def test_users_can_define_their_own_frames() -> None:
    from dataclasses import dataclass

    from beluga_voice.frames import DataFrame, FrameKind, SystemFrame

    @dataclass(slots=True)
    class Dtmf(DataFrame):
        digit: str

    @dataclass(slots=True)
    class Hangup(SystemFrame):
        pass

    assert Dtmf("5").kind is FrameKind.DATA and Hangup().kind is FrameKind.SYSTEM


async def test_queue_observer_drops_rather_than_blocks() -> None:
    observer = QueueObserver(capacity=4, types=(TextFrame,))
    out, _ = await run_pipeline(
        [Tag("a"), Tag("b")], [TextFrame(str(i)) for i in range(50)], observers=[observer]
    )
    assert len(texts(out)) == 50
    # three processors push each frame (the head and both tags); four copies fit
    assert observer.dropped == 3 * 50 - 4


async def test_randomised_start_stop_cycles_leave_no_task_behind() -> None:
    rng = random.Random(1234)
    baseline = len(anyio.get_running_tasks())
    for _ in range(200):
        procs: list[FrameProcessor] = [Tag(str(i)) for i in range(rng.randint(1, 6))]
        if rng.random() < 0.3:
            procs.insert(rng.randrange(len(procs) + 1), Parallel([[Tag("p")], [Tag("q")]]))
        frames = [TextFrame(str(i)) for i in range(rng.randint(0, 30))]
        task = PipelineTask(procs, stop_timeout=1.0)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(task.run)
                await task.queue_frames(frames)
                if rng.random() < 0.5:
                    await task.cancel()
                else:
                    await task.stop_when_done()
        assert task.finished and task.stuck == []
        assert len(anyio.get_running_tasks()) == baseline


def test_top_level_and_processor_exports_resolve() -> None:
    import beluga_voice
    import beluga_voice.processors as processors

    for name in beluga_voice.__all__:
        assert getattr(beluga_voice, name) is not None
    for name in processors.__all__:
        assert isinstance(getattr(processors, name), type)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        processors.Nope  # noqa: B018
