"""Limits of a session: the bot audio the output half holds, and a flood's prompt end.

The server-level behaviour (text floods, audio blasters, clients that stop reading) is in
the chaos suite; these tests pin the output half's own bound (``max_buffer_s``) on the
paths the chaos suite does not take: an unpaced sink that takes audio slowly, one frame
longer than the whole buffer, and a play task that has died; and that a session closed
for abuse gives its slot back at once.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from beluga_voice.frames import OutputAudioFrame, ResponseEndFrame, StartFrame
from beluga_voice.pipeline import PipelineTask
from beluga_voice.processors.s2s import S2SProcessor
from beluga_voice.providers.mock import AdvancedMockS2SProvider
from beluga_voice.transports.output import OutputTransport
from beluga_voice.transports.websocket import ServerConfig, WebSocketClient, WebSocketServer

pytestmark = pytest.mark.anyio

RATE = 16000
BYTES_PER_S = 2 * RATE


class GatedOutput(OutputTransport):
    """Unpaced output whose sink takes nothing until ``gate`` is set (a stalled peer)."""

    def __init__(self, *, max_buffer_s: float, fail: bool = False) -> None:
        super().__init__(realtime=False, max_buffer_s=max_buffer_s, sample_rate=RATE)
        self.gate = anyio.Event()
        self.fail = fail
        self.written = bytearray()

    async def write_audio(self, chunk: bytes) -> None:
        if self.fail:
            raise OSError("the device went away")
        await self.gate.wait()
        self.written += chunk


def _task(out: OutputTransport) -> PipelineTask:
    start = StartFrame(input_sample_rate=RATE, output_sample_rate=RATE)
    return PipelineTask([out], start_frame=start, stop_timeout=5.0)


def _pcm(seconds: float) -> bytes:
    return bytes(range(256)) * round(seconds * BYTES_PER_S / 256)


@pytest.mark.parametrize("frame_s", [0.1, 30.0], ids=["many-frames", "one-long-frame"])
async def test_a_slow_unpaced_sink_holds_the_producer_back(frame_s: float) -> None:
    """30 s of reply for a sink that takes nothing: at most max_buffer_s is held, the
    producer waits, and once the sink takes again every byte arrives in order."""
    out = GatedOutput(max_buffer_s=2.0)
    task = _task(out)
    audio = _pcm(30.0)
    step = int(frame_s * BYTES_PER_S)
    produced = anyio.Event()
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)

            async def produce() -> None:
                for i in range(0, len(audio), step):
                    await task.queue_frame(OutputAudioFrame(audio[i : i + step], RATE))
                await task.queue_frame(ResponseEndFrame())
                produced.set()

            tg.start_soon(produce)
            await anyio.wait_all_tasks_blocked()
            assert out.buffered_seconds <= 2.0
            assert out.stats.buffered_max_s <= 2.0
            if frame_s < 2.0:
                assert not produced.is_set()  # the producer is held back
            out.gate.set()
            await produced.wait()
            await task.stop_when_done()
    assert bytes(out.written) == audio  # nothing lost, nothing reordered
    assert out.stats.buffered_max_s <= 2.0
    assert out.stats.seconds_dropped == 0.0


async def test_audio_after_the_play_task_died_is_counted_not_hoarded() -> None:
    out = GatedOutput(max_buffer_s=1.0, fail=True)
    task = _task(out)
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            await task.queue_frame(OutputAudioFrame(_pcm(0.1), RATE))
            await anyio.wait_all_tasks_blocked()  # the sink failed on the first chunk
            for _ in range(49):  # then 4.9 s more
                await task.queue_frame(OutputAudioFrame(_pcm(0.1), RATE))
            await anyio.wait_all_tasks_blocked()
            assert out.buffered_seconds == 0.0  # nobody will play it: not kept
            await task.queue_frame(ResponseEndFrame())
            await task.stop_when_done()
    assert any("device went away" in e.message for e in task.errors)  # said, not silent
    assert out.stats.seconds_dropped == pytest.approx(
        50 * len(_pcm(0.1)) / BYTES_PER_S - out.stats.seconds_written
    )


async def test_a_flooding_client_is_closed_1008_and_its_slot_freed_at_once() -> None:
    """The client's answer to the 1008 close sits behind the messages it flooded: the
    server reads them away instead of waiting out websockets' 10 s close timeout with the
    session's slot taken."""
    provider = AdvancedMockS2SProvider()

    def build(transport: Any) -> list[Any]:
        return [transport.input(), S2SProcessor(provider), transport.output()]

    errors: list[str] = []
    async with WebSocketServer(build, ServerConfig(max_sessions=1)) as server:
        async with WebSocketClient.connect(server.url) as client:
            for n in range(300):
                await client.send_text(f"question {n}")
            with anyio.fail_after(4):  # before: 10 s
                async for item in client:
                    if isinstance(item, dict) and item["type"] == "error":
                        errors.append(item["code"])
                await server.wait_idle()
        assert client.ws.close_code == 1008
        assert errors == ["rate_limited"] * 20  # each refusal said so first
        assert server.active_sessions == 0 and server.sessions_failed == 0
