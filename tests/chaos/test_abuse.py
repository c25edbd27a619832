"""Abusive clients cost the others nothing: the playback buffer, the event rate, the audio
speed, and a client that stops reading."""

from __future__ import annotations

import socket
import time
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect as ws_connect

from beluga_voice.frames import Direction, Frame, InputAudioFrame
from beluga_voice.pipeline import FrameProcessor
from beluga_voice.processors.s2s import S2SProcessor
from beluga_voice.providers.mock import AdvancedMockS2SProvider
from beluga_voice.testing.speech import tone
from beluga_voice.transports.output import OutputTransport
from beluga_voice.transports.websocket import ServerConfig, WebSocketClient, WebSocketServer
from beluga_voice.transports.websocket.limits import TokenBucket

pytestmark = pytest.mark.anyio


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=10.0, burst=5.0)
    start = bucket.stamp
    assert all(bucket.try_take(now=start) for _ in range(5))
    assert not bucket.try_take(now=start)  # burst spent
    assert bucket.try_take(now=start + 0.1)  # one token back after 1/rate
    assert bucket.take(3.0, now=start + 0.1) == pytest.approx(0.3)  # a debt, to be waited


@settings(max_examples=300, deadline=None)
@given(
    start=st.floats(min_value=0.0, max_value=1e7, allow_nan=False),
    rate=st.sampled_from([1.0, 3.0, 10.0, 50.0, 100.0]),
)
def test_taking_at_exactly_the_rate_is_never_refused(start: float, rate: float) -> None:
    """Float rounding of (now - stamp) * rate must not refuse a client that keeps to the
    rate exactly, wherever the monotonic clock stands (CI once refused one at 16752 s)."""
    bucket = TokenBucket(rate=rate, burst=1.0)
    bucket.stamp = start
    assert bucket.try_take(now=start)
    now = start
    for _ in range(5):
        now += 1.0 / rate
        assert bucket.try_take(now=now)
        assert not bucket.try_take(now=now)  # and never more than the rate


async def test_a_text_flood_is_refused_and_queues_no_minutes_of_audio() -> None:
    outputs: list[OutputTransport] = []
    provider = AdvancedMockS2SProvider(audio_outputs=[tone(0.5, 24000)])

    def build(transport: Any) -> list[Any]:
        outputs.append(transport.output())
        return [transport.input(), S2SProcessor(provider), outputs[-1]]

    config = ServerConfig(max_buffer_s=2.0, max_events_per_s=5.0, max_protocol_errors=20)
    events: list[dict[str, Any]] = []
    async with WebSocketServer(build, config) as server:
        with anyio.fail_after(20):
            async with WebSocketClient.connect(server.url) as client:
                for i in range(200):
                    await client.send_text(f"question {i}")
                async for item in client:  # until the server closes on the abuse
                    if isinstance(item, dict):
                        events.append(item)
            assert client.ws.close_code == 1008
            await server.wait_idle()
    refused = [e for e in events if e.get("type") == "error" and e["code"] == "rate_limited"]
    assert len(refused) == 20  # each refusal said so, then the abuse closed the session
    assert outputs[0].stats.buffered_max_s <= 2.0 + 0.5  # the cap, plus one reply in flight


async def test_audio_faster_than_allowed_is_read_later_not_lost() -> None:
    got: list[tuple[float, int]] = []

    class Meter(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: Direction) -> None:
            if isinstance(frame, InputAudioFrame):
                got.append((time.monotonic(), len(frame.audio)))
            await self.push_frame(frame, direction)

    def build(transport: Any) -> list[Any]:
        return [transport.input(), Meter(), transport.output()]

    config = ServerConfig(realtime=False, max_audio_speed=10.0, audio_burst_s=2.0)
    frame = bytes(640)  # 20 ms at 16 kHz
    async with WebSocketServer(build, config) as server:
        with anyio.fail_after(20):
            async with WebSocketClient.connect(server.url) as client:
                for _ in range(1000):  # 20 s of audio, sent as fast as the socket takes it
                    await client.send_audio(frame)
                await client.end()
                async for _ in client:
                    pass
    assert sum(n for _, n in got) == 1000 * 640  # nothing dropped
    # 2 s of burst, then 18 s at 10x real time: at least 1.8 s to read it all.
    assert got[-1][0] - got[0][0] >= 1.6


async def test_a_client_that_stops_reading_is_dropped_after_the_send_deadline() -> None:
    provider = AdvancedMockS2SProvider(audio_outputs=[tone(200.0, 24000)])
    transports: list[Any] = []

    def build(transport: Any) -> list[Any]:
        transports.append(transport)
        return [transport.input(), S2SProcessor(provider), transport.output()]

    config = ServerConfig(realtime=False, send_timeout=0.5)
    async with WebSocketServer(build, config) as server:
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        with anyio.fail_after(20):
            async with ws_connect(server.url, sock=sock, max_queue=1) as ws:
                await ws.recv()  # session.started
                await ws.send('{"type": "text", "text": "tell me a long story"}')
                # ... and never reads again: 200 s of reply (9.6 MB) cannot get through,
                # and the server must not hold it for a client that takes nothing.
                await server.wait_idle()
                ws.transport.abort()
    assert transports[0].close_reason == "not_reading"
    assert server.sessions_failed == 0  # a slow client is no server failure
