"""Audio handed to the pipeline from the socket's I/O callback (``push_frame_nowait``, the
picows connection's ``feed``): same frames, same order, same observers as the reading
task's path, without waking that task per frame."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from anyio import wait_all_tasks_blocked
from websockets.asyncio.client import connect

from beluga_voice.frames import Direction, Frame, InputAudioFrame, TextFrame
from beluga_voice.pipeline import FrameObserver, FrameProcessor, PipelineTask
from beluga_voice.transports.websocket import ServerConfig, WebSocketServer
from beluga_voice.transports.websocket.transport import WebSocketInput

pytestmark = pytest.mark.anyio

FRAME = 640  # 20 ms of 16 kHz PCM16


class Recorder(FrameProcessor):
    """Notes each audio frame's sequence number and each text, and the task handling it."""

    def __init__(self, expect: int = 0) -> None:
        super().__init__(name="Recorder")
        self.seen: list[int | str] = []
        self.tasks: set[asyncio.Task[Any] | None] = set()
        self.expect = expect
        self.done = anyio.Event()
        self.got = anyio.Event()
        self.gate: anyio.Event | None = None
        """While set to an unset event, the next frame's handler waits on it (busy)."""

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, InputAudioFrame):
            self.seen.append(int.from_bytes(frame.audio[:4], "little"))
        elif isinstance(frame, TextFrame):
            self.seen.append(frame.text)
        else:
            await self.push_frame(frame, direction)
            return
        self.tasks.add(asyncio.current_task())
        self.got.set()
        if self.gate is not None:
            await self.gate.wait()
        if len(self.seen) == self.expect:
            self.done.set()


class Source(FrameProcessor):
    """Passes frames on; the tests push from it as an I/O callback would."""

    def __init__(self) -> None:
        super().__init__(name="Source")


class Counter(FrameObserver):
    def __init__(self) -> None:
        self.pushes: list[tuple[str, Frame]] = []

    def on_push(self, source: FrameProcessor, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, InputAudioFrame):
            self.pushes.append((source.name, frame))


def audio(seq: int) -> InputAudioFrame:
    return InputAudioFrame(seq.to_bytes(4, "little") + bytes(FRAME - 4), 16000)


async def from_callback(fn: Callable[[], bool]) -> bool:
    """Run ``fn`` as an I/O callback of the loop (no task is current), return its result."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bool] = loop.create_future()

    def callback() -> None:
        assert asyncio.current_task() is None
        done.set_result(fn())

    loop.call_soon(callback)
    return await done


async def test_an_idle_receiver_handles_the_frame_as_its_own_task_before_the_call_returns() -> None:
    src, rec = Source(), Recorder()
    counter = Counter()
    task = PipelineTask([src, rec], observers=[counter])
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            await wait_all_tasks_blocked()
            assert await from_callback(lambda: src.push_frame_nowait(audio(7)))
            assert rec.seen == [7]  # handled within the callback, no task woken for it
            assert None not in rec.tasks and len(rec.tasks) == 1  # as the receiver's task
            assert [name for name, _ in counter.pushes] == ["Source"]  # told once
            await task.stop_when_done()


async def test_a_busy_receiver_is_declined_with_nothing_done() -> None:
    src, rec = Source(), Recorder()
    counter = Counter()
    task = PipelineTask([src, rec], observers=[counter])
    rec.gate = anyio.Event()
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            await wait_all_tasks_blocked()
            await task.queue_frame(audio(1))
            await rec.got.wait()  # the receiver now waits in its handler: busy
            before = len(counter.pushes)
            assert not await from_callback(lambda: src.push_frame_nowait(audio(2)))
            assert len(counter.pushes) == before  # observers not told of a push not made
            rec.gate.set()
            await src.push_frame(audio(2))  # the caller's fallback: push from a task
            await wait_all_tasks_blocked()
            assert rec.seen == [1, 2]
            await task.stop_when_done()


class FeedCounter:
    """Wraps ``WebSocketInput.feed``: how many messages it took and how many it left."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.taken = 0
        self.left = 0
        original = WebSocketInput.feed

        def feed(input_: WebSocketInput, message: str | bytes) -> bool:
            taken = original(input_, message)
            if taken:
                self.taken += 1
            else:
                self.left += 1
            return taken

        monkeypatch.setattr(WebSocketInput, "feed", feed)


def server_for(rec: Recorder, **cfg: Any) -> WebSocketServer:
    config = ServerConfig(engine="picows", input_sample_rate=16000, output_sample_rate=16000, **cfg)
    return WebSocketServer(lambda t: [t.input(), rec], config)


async def test_audio_from_a_waiting_reader_goes_straight_from_the_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fed = FeedCounter(monkeypatch)
    rec = Recorder(expect=20)
    with anyio.fail_after(20):
        async with server_for(rec) as server, connect(server.url) as ws:
            await ws.recv()  # session.started
            for seq in range(20):  # lockstep: the reader waits for each message
                rec.got = anyio.Event()
                await ws.send(audio(seq).audio)
                await rec.got.wait()
            await rec.done.wait()
    assert rec.seen == list(range(20))
    # Every one once the reader first waits (the first may come before it has started).
    assert fed.taken >= 19
    assert None not in rec.tasks


async def test_events_and_audio_keep_their_order_whichever_path_each_takes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fed = FeedCounter(monkeypatch)
    sent: list[int | str] = []
    for seq in range(60):
        sent.append(seq)
        if seq % 7 == 3:
            sent.append(f"t{seq}")
    rec = Recorder(expect=len(sent))
    with anyio.fail_after(20):
        async with server_for(rec) as server, connect(server.url) as ws:
            await ws.recv()
            for item in sent:  # all at once: some queue, some are fed
                if isinstance(item, int):
                    await ws.send(audio(item).audio)
                else:
                    await ws.send(f'{{"type": "text", "text": "{item}"}}')
            await rec.done.wait()
    assert rec.seen == sent
    assert fed.taken + fed.left <= 60  # texts never reach the feed


async def test_audio_over_its_rate_limit_waits_in_the_reader_and_none_is_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fed = FeedCounter(monkeypatch)
    rec = Recorder(expect=15)
    with anyio.fail_after(20):
        # 0.1 s of burst at real time: of 15 frames (0.3 s) the feed takes the burst's 5
        # and what the bucket refills meanwhile; the rest wait in the reading task.
        async with (
            server_for(rec, max_audio_speed=1.0, audio_burst_s=0.1) as server,
            connect(server.url) as ws,
        ):
            await ws.recv()
            started = anyio.current_time()
            for seq in range(15):
                rec.got = anyio.Event()
                await ws.send(audio(seq).audio)
                await rec.got.wait()
            await rec.done.wait()
            elapsed = anyio.current_time() - started
    assert rec.seen == list(range(15))
    assert fed.left >= 5  # refused by the rate limit, then taken by the reader
    assert elapsed >= 0.15  # 0.3 s of audio past a 0.1 s burst, at 1x real time


async def test_a_bad_audio_message_is_still_reported_by_the_reader() -> None:
    rec = Recorder(expect=1)
    with anyio.fail_after(20):
        async with server_for(rec) as server, connect(server.url) as ws:
            await ws.recv()
            await ws.send(b"\x01\x02\x03")  # odd length: not PCM16
            error = await ws.recv()
            await ws.send(audio(5).audio)
            await rec.done.wait()
    assert isinstance(error, str) and '"invalid_audio"' in error
    assert rec.seen == [5]
