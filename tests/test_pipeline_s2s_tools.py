"""The S2S processor's tool calls and provider session on every way out, against the mock.

Tool calls run beside the event reader (bounded, with a deadline, cancelled on barge-in
and at the end), and the provider session is released even when the stop deadline
cancels the processor mid-frame.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import anyio
import pytest

from beluga_voice.agents import Tool, ToolRegistry
from beluga_voice.frames import (
    Direction,
    Frame,
    InputAudioFrame,
    ResponseStartFrame,
    TextFrame,
    ToolCallFrame,
    ToolResultFrame,
    UserStartedSpeakingFrame,
)
from beluga_voice.pipeline import FrameProcessor, PipelineTask
from beluga_voice.processors.s2s import S2SProcessor
from beluga_voice.providers import ConversationContext, S2SConfig
from beluga_voice.providers.events import SessionEvent, ToolCallCancelled
from beluga_voice.providers.mock import AdvancedMockS2SProvider, MockSession
from beluga_voice.testing import tone

pytestmark = pytest.mark.anyio

UTTERANCE = tone(0.4, 16000, 300, 0.5) + bytes(2 * 16000 // 2)  # 0.4 s speech, 0.5 s quiet


def frames_of(pcm: bytes, rate: int = 16000) -> list[InputAudioFrame]:
    step = rate // 50 * 2
    return [InputAudioFrame(pcm[i : i + step], rate) for i in range(0, len(pcm), step)]


class SlowTool:
    """A tool that answers only when released; notes being cancelled."""

    def __init__(self) -> None:
        self.calls = 0
        self.running = anyio.Event()
        self.release = anyio.Event()
        self.cancelled = 0
        self.gone = anyio.Event()

    async def __call__(self, city: str = "") -> str:
        self.calls += 1
        self.running.set()
        try:
            await self.release.wait()
        except BaseException:
            self.cancelled += 1
            self.gone.set()
            raise
        return "sunny"

    def registry(self) -> ToolRegistry:
        return ToolRegistry([Tool("weather", "Weather in a city", self)])


class Watch:
    """Collects the output and wakes waiters when a condition on it comes true."""

    def __init__(self) -> None:
        self.out: list[Frame] = []
        self._waits: list[tuple[type[Frame], int, anyio.Event]] = []

    async def __call__(self, frame: Frame) -> None:
        self.out.append(frame)
        for kind, n, event in self._waits:
            if self.count(kind) >= n:
                event.set()

    def count(self, kind: type[Frame]) -> int:
        return sum(isinstance(f, kind) for f in self.out)

    async def until(self, kind: type[Frame], n: int = 1) -> None:
        event = anyio.Event()
        self._waits.append((kind, n, event))
        if self.count(kind) >= n:
            return
        await event.wait()


async def _run(
    s2s: S2SProcessor, script: Iterable[tuple[str, object]], watch: Watch, **kwargs: object
) -> PipelineTask:
    """Run ``s2s`` while ``script`` runs: ("frames", [...]) queues frames, ("wait", coro
    function) awaits it; then stop gracefully."""
    task = PipelineTask([s2s], on_output=watch, **kwargs)  # type: ignore[arg-type]
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            for what, arg in script:
                if what == "frames":
                    await task.queue_frames(arg)  # type: ignore[arg-type]
                else:
                    await arg()  # type: ignore[operator]
            await task.stop_when_done()
    return task


async def test_a_barge_in_during_a_slow_tool_is_seen_at_once_and_cancels_the_tool() -> None:
    tool = SlowTool()
    mock = AdvancedMockS2SProvider(tool_calls={1: ("weather", '{"city": "Lisbon"}')})
    watch = Watch()
    await _run(
        S2SProcessor(mock, tools=tool.registry()),
        [
            ("frames", frames_of(UTTERANCE)),
            ("wait", tool.running.wait),
            ("frames", frames_of(UTTERANCE)),  # the user speaks again while the tool runs
            ("wait", lambda: watch.until(UserStartedSpeakingFrame, 2)),
            ("wait", lambda: watch.until(ToolResultFrame)),
        ],
        watch,
    )
    # The reader saw the new speech while the tool was still running (it used to wait for
    # the tool), and the tool was cancelled; the provider hears that, as the call's answer.
    assert not tool.release.is_set() and tool.cancelled == 1
    assert len(mock.tool_results) == 1
    call_id, output = mock.tool_results[0]
    assert call_id == "call_1" and "cancelled" in json.loads(output)["error"]
    assert [f.output for f in watch.out if isinstance(f, ToolResultFrame)] == [output]


async def test_a_tool_that_does_not_answer_in_time_gets_an_error_result() -> None:
    tool = SlowTool()
    mock = AdvancedMockS2SProvider(tool_calls={1: ("weather", "{}")}, transcripts=["Sorry."])
    watch = Watch()
    task = await _run(
        S2SProcessor(mock, tools=tool.registry(), tool_timeout=0.2),
        [("frames", frames_of(UTTERANCE)), ("wait", lambda: watch.until(ResponseStartFrame))],
        watch,
    )
    assert tool.cancelled == 1
    [(call_id, output)] = mock.tool_results  # the reply then followed the error result
    assert call_id == "call_1" and "within 0.2 s" in json.loads(output)["error"]
    assert [(e.code, e.fatal) for e in task.errors] == [("timeout", False)]


async def test_tool_calls_in_flight_are_bounded_and_a_call_over_the_bound_is_answered() -> None:
    tool = SlowTool()
    tools = {1: ("weather", '{"city": "Oslo"}'), 2: ("weather", '{"city": "Rome"}')}
    mock = AdvancedMockS2SProvider(tool_calls=tools)
    watch = Watch()
    task = await _run(
        S2SProcessor(mock, tools=tool.registry(), max_tool_calls=1),
        [
            ("frames", [TextFrame("weather in Oslo?")]),
            ("wait", tool.running.wait),
            ("frames", [TextFrame("and in Rome?")]),
            ("wait", lambda: watch.until(ToolResultFrame)),
        ],
        watch,
    )
    assert tool.calls == 1  # the second call never started
    [(call_id, output)] = mock.tool_results
    assert call_id == "call_2" and "too many" in json.loads(output)["error"]
    assert [e.code for e in task.errors] == ["rate_limit"]
    assert watch.count(ToolCallFrame) == 2
    assert tool.cancelled == 1  # the first was cancelled by the end of the session


class CancellingMock(AdvancedMockS2SProvider):
    """A provider that cancels its pending tool call when told "never mind" (as Gemini
    sends ``toolCallCancellation``)."""

    async def _open_session(self, ctx: ConversationContext) -> MockSession:
        session = CancellingSession(self, ctx)
        self.sessions.append(session)
        return session


class CancellingSession(MockSession):
    def _handle(self, kind: str, value: object) -> list[SessionEvent]:
        if kind == "turn" and value == "never mind":
            return [ToolCallCancelled(("call_1",))]
        return super()._handle(kind, value)


async def test_a_call_the_provider_cancels_is_cancelled_and_not_answered() -> None:
    tool = SlowTool()
    mock = CancellingMock(tool_calls={1: ("weather", "{}")})
    watch = Watch()
    s2s = S2SProcessor(mock, tools=tool.registry())
    await _run(
        s2s,
        [
            ("frames", [TextFrame("weather?")]),
            ("wait", tool.running.wait),
            ("frames", [TextFrame("never mind")]),
            ("wait", tool.gone.wait),
        ],
        watch,
    )
    assert mock.tool_results == []  # the provider forgot the call: nothing to answer
    assert s2s.tool_calls.in_flight == 0


class Jammed(FrameProcessor):
    """An output that stopped reading: its first frame never returns, so its inbox fills
    and the processor before it blocks pushing."""

    def __init__(self) -> None:
        super().__init__(name="jammed")
        self.entered = anyio.Event()

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, InputAudioFrame):
            self.entered.set()
            await anyio.sleep_forever()
        await self.push_frame(frame, direction)


async def test_a_stop_deadline_still_closes_the_provider_session_and_frees_its_slot() -> None:
    mock = AdvancedMockS2SProvider(config=S2SConfig(provider="mock", max_concurrent_sessions=1))
    s2s = S2SProcessor(mock)
    task = PipelineTask([s2s, Jammed()], stop_timeout=0.3, inbox_capacity=2)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            await task.queue_frames(frames_of(UTTERANCE)[:6])  # fits in the jammed queues
            await anyio.wait_all_tasks_blocked()
            await task.stop_when_done()
    # The S2S processor was busy (blocked pushing audio) when the deadline fired, so its
    # on_stop never ran; the session must be closed and the provider's slot free anyway.
    assert any(name.startswith("S2S[mock] (handling InputAudioFrame") for name in task.stuck)
    [session] = mock.sessions
    assert session.closed
    assert mock.limiter.in_use == 0
    with anyio.fail_after(1):  # the only slot is free: a new session opens at once
        await (await mock.start_streaming()).close()
