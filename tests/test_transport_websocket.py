"""WebSocket server and client on loopback: round trips, security, limits, bad input, load."""

from __future__ import annotations

import base64
import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import numpy as np
import pytest
import trustme
from pydantic import SecretStr
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from beluga_voice.audio import ulaw_decode, ulaw_encode
from beluga_voice.frames import (
    Direction,
    Frame,
    InputAudioFrame,
    OutputAudioFrame,
    ResponseEndFrame,
    StartFrame,
    TextFrame,
    TranscriptionFrame,
)
from beluga_voice.pipeline import FrameProcessor, PipelineTask
from beluga_voice.secrets import redact
from beluga_voice.transports import ClientConnectedFrame, ClientDisconnectedFrame
from beluga_voice.transports.websocket import (
    CLOSE_IDLE,
    CLOSE_TRY_AGAIN,
    ServerConfig,
    TwilioSerializer,
    WebSocketClient,
    WebSocketClientProcessor,
    WebSocketServer,
    WebSocketTransport,
)

pytestmark = pytest.mark.anyio

FRAME = 640  # 20 ms at 16 kHz
ENGINE = "auto"
"""The engine :func:`serving` starts the server on (set per test by :func:`engine`)."""


@pytest.fixture(autouse=True, params=["picows", "websockets"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every server test runs on both WebSocket engines: the session code must not care."""
    monkeypatch.setattr(f"{__name__}.ENGINE", request.param)
    return str(request.param)


class Echo(FrameProcessor):
    """User audio back as bot audio; typed text back as an assistant transcript."""

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, InputAudioFrame):
            frame = OutputAudioFrame(frame.audio, frame.sample_rate, frame.channels)
        elif isinstance(frame, TextFrame):
            if frame.text == "boom":
                raise RuntimeError("the bot tripped")
            frame = TranscriptionFrame(f"you said {frame.text}", role="assistant")
        await self.push_frame(frame, direction)


def echo_pipeline(transport: WebSocketTransport) -> list[Any]:
    return [transport.input(), Echo(), transport.output()]


@asynccontextmanager
async def serving(
    factory: Callable[[WebSocketTransport], Any] = echo_pipeline, **options: Any
) -> AsyncIterator[WebSocketServer]:
    cfg: dict[str, Any] = {
        "engine": ENGINE,
        "input_sample_rate": 16000,
        "output_sample_rate": 16000,
        "realtime": False,
    }
    cfg.update(options)
    serializer = cfg.pop("serializer_factory", None)
    kwargs = {"serializer_factory": serializer} if serializer else {}
    async with WebSocketServer(factory, ServerConfig(**cfg), **kwargs) as server:
        yield server


def numbered(n: int) -> list[bytes]:
    """``n`` 20 ms frames, each filled with its own sequence number."""
    return [np.full(FRAME // 2, i, dtype="<i2").tobytes() for i in range(n)]


async def converse(client: WebSocketClient, frames: list[bytes]) -> tuple[bytes, list[dict]]:
    for frame in frames:
        await client.send_audio(frame)
    await client.end()
    audio = bytearray()
    events = []
    async for item in client:
        if isinstance(item, bytes):
            audio += item
        else:
            events.append(item)
    return bytes(audio), events


async def test_echo_round_trip_with_events() -> None:
    async with serving() as server, WebSocketClient.connect(server.url) as client:
        assert client.session["audio"]["input"] == {
            "encoding": "pcm16le",
            "sample_rate": 16000,
            "channels": 1,
        }
        await client.send_text("hello")
        frames = numbered(50)
        audio, events = await converse(client, frames)
    assert audio == b"".join(frames)
    kinds = [e["type"] for e in events]
    assert {"type": "transcript", "role": "assistant", "text": "you said hello", "final": True} in (
        events
    )
    assert kinds.index("bot.started_speaking") < kinds.index("bot.stopped_speaking")
    assert kinds[-1] == "session.ended"
    assert events[-1]["reason"] == "client_end"


async def test_peer_join_and_leave_reach_the_pipeline() -> None:
    seen: list[Frame] = []
    left = anyio.Event()

    class Watch(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: Direction) -> None:
            if isinstance(frame, ClientConnectedFrame | ClientDisconnectedFrame):
                seen.append(frame)
                if isinstance(frame, ClientDisconnectedFrame):
                    left.set()
            await self.push_frame(frame, direction)

    def build(t: WebSocketTransport) -> list[Any]:
        return [t.input(), Watch(), t.output()]

    async with serving(build) as server:
        async with WebSocketClient.connect(server.url):
            pass  # connect and go away
        with anyio.fail_after(5):
            await left.wait()
    assert isinstance(seen[0], ClientConnectedFrame)
    assert seen[0].address and seen[0].address.startswith("127.0.0.1:")
    assert isinstance(seen[1], ClientDisconnectedFrame)
    assert seen[1].peer_id == seen[0].peer_id


async def test_pipeline_errors_reach_the_client_and_the_session_goes_on() -> None:
    async with serving() as server, WebSocketClient.connect(server.url) as client:
        await client.send_text("boom")
        audio, events = await converse(client, numbered(3))
    errors = [e for e in events if e["type"] == "error"]
    assert len(errors) == 1 and "the bot tripped" in errors[0]["message"]
    assert audio == b"".join(numbered(3))


async def test_bearer_token_is_checked() -> None:
    async with serving(token="s3cret-token-value") as server:
        for bad in (None, "wrong-token"):
            with pytest.raises(InvalidStatus) as info:
                async with WebSocketClient.connect(server.url, token=bad):
                    pass
            assert info.value.response.status_code == 401
        async with WebSocketClient.connect(server.url, token="s3cret-token-value") as client:
            assert client.session["type"] == "session.started"
        async with connect(server.url + "?access_token=s3cret-token-value") as ws:
            assert json.loads(await ws.recv())["type"] == "session.started"


async def test_a_str_token_set_after_creation_is_checked() -> None:
    # ServerConfig wraps a str token in a SecretStr at creation only; one assigned later
    # (the annotation allows a str) must still be compared, not crash the handshake.
    async with serving() as server:
        server.config.token = "later-token-value"
        assert isinstance(server.config.token, SecretStr)
        assert "later-token-value" not in redact("sent later-token-value")  # kept secret
        with pytest.raises(InvalidStatus) as info:
            async with WebSocketClient.connect(server.url, token="wrong-token"):
                pass
        assert info.value.response.status_code == 401
        async with WebSocketClient.connect(server.url, token="later-token-value") as client:
            assert client.session["type"] == "session.started"


def test_a_public_address_requires_a_token() -> None:
    with pytest.raises(ValueError, match="token is required"):
        ServerConfig(host="0.0.0.0")
    cfg = ServerConfig(host="0.0.0.0", token="abcdefgh-1234-567")
    assert "abcdefgh" not in repr(cfg)  # the secret never shows in a repr


async def test_origins_are_checked() -> None:
    async with serving(allowed_origins=["https://app.example"]) as server:
        with pytest.raises(InvalidStatus) as info:
            async with WebSocketClient.connect(server.url, origin="https://evil.example"):
                pass
        assert info.value.response.status_code == 403
        async with WebSocketClient.connect(server.url, origin="https://app.example") as client:
            assert client.session["type"] == "session.started"


async def test_sessions_beyond_the_limit_are_closed_with_1013() -> None:
    async with (
        serving(max_sessions=2) as server,
        WebSocketClient.connect(server.url) as a,
        WebSocketClient.connect(server.url) as b,
    ):
        async with connect(server.url) as ws:
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.close_code == CLOSE_TRY_AGAIN
        assert server.sessions_rejected == 1
        for client in (a, b):  # the admitted sessions are unaffected
            audio, _ = await converse(client, numbered(2))
            assert audio == b"".join(numbered(2))


async def test_oversized_message_closes_only_that_session() -> None:
    async with (
        serving(max_message_bytes=4096) as server,
        WebSocketClient.connect(server.url) as good,
    ):
        async with WebSocketClient.connect(server.url) as bad:
            await bad.send_audio(bytes(8192))
            async for _ in bad:
                pass
            assert bad.ws.close_code == 1009
        audio, _ = await converse(good, numbered(5))
        assert audio == b"".join(numbered(5))


async def test_idle_connections_are_closed() -> None:
    async with serving(idle_timeout=0.2) as server, WebSocketClient.connect(server.url) as c:
        events = [item async for item in c if isinstance(item, dict)]
        assert events[0]["code"] == "idle_timeout"
        assert c.ws.close_code == CLOSE_IDLE


async def test_bad_messages_get_error_events_and_the_session_carries_on() -> None:
    async with serving() as server, WebSocketClient.connect(server.url) as client:
        await client.ws.send("{not json")
        await client.ws.send("[1, 2]")
        await client.send_event({"type": "launch_rockets"})
        await client.send_event({"type": "text", "text": 5})
        await client.ws.send(b"\x01\x02\x03")  # not whole PCM16 samples
        audio, events = await converse(client, numbered(4))
    codes = [e["code"] for e in events if e["type"] == "error"]
    assert codes == [
        "invalid_json",
        "invalid_event",
        "unknown_event",
        "invalid_event",
        "invalid_audio",
    ]
    assert audio == b"".join(numbered(4))


async def test_too_many_protocol_errors_close_with_1008() -> None:
    async with serving(max_protocol_errors=3) as server:
        async with WebSocketClient.connect(server.url) as client:
            for _ in range(5):
                await client.ws.send("nope")
            events = [item async for item in client if isinstance(item, dict)]
            assert [e["code"] for e in events] == ["invalid_json"] * 3
            assert client.ws.close_code == 1008
        async with WebSocketClient.connect(server.url) as again:  # the server carries on
            audio, _ = await converse(again, numbered(1))
            assert audio == numbered(1)[0]


@pytest.mark.parametrize(
    ("path", "content_type", "marker"),
    [
        ("/", "text/html; charset=utf-8", b'content="websocket"'),
        ("/client", "text/html; charset=utf-8", b"client.js"),
        ("/static/worklets.js", "text/javascript; charset=utf-8", b"registerProcessor"),
        ("/favicon.ico", "image/svg+xml", b"<svg"),
    ],
)
async def test_browser_page_is_served_over_plain_http(
    path: str, content_type: str, marker: bytes
) -> None:
    async with serving(token="page-token-1234") as server:
        stream = await anyio.connect_tcp("127.0.0.1", server.port)
        async with stream:
            await stream.send(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
            reply = b""
            with anyio.fail_after(5), contextlib.suppress(anyio.EndOfStream):
                while True:  # the server closes after the response
                    reply += await stream.receive()
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert f"content-type: {content_type}".encode() in head.lower()
    assert f"content-length: {len(body)}".encode() in head.lower()
    assert marker in body and b"page-token-1234" not in body


async def test_a_failing_pipeline_factory_closes_only_that_session() -> None:
    calls = 0

    def flaky(t: WebSocketTransport) -> list[Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("cannot build")
        return echo_pipeline(t)

    async with serving(flaky) as server:
        async with connect(server.url) as ws:
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 1011
        async with WebSocketClient.connect(server.url) as client:
            audio, _ = await converse(client, numbered(2))
        assert audio == b"".join(numbered(2))
        await server.wait_idle()
        assert (server.sessions_failed, server.sessions_served) == (1, 1)


async def test_closing_the_server_ends_live_sessions() -> None:
    with anyio.fail_after(10):
        async with serving() as server, WebSocketClient.connect(server.url) as client:
            await client.send_audio(numbered(1)[0])
            await server.close()  # while the session is live
            assert server.active_sessions == 0
            _ = [item async for item in client]
            assert client.ws.close_code == 1001  # going away


async def test_barge_in_over_the_socket_reports_what_was_heard() -> None:
    """A 1 s reply paced in real time; the client interrupts after 200 ms of it arrived."""

    class Talker(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: Direction) -> None:
            if isinstance(frame, TextFrame):
                await self.push_frame(OutputAudioFrame(bytes(32000), 16000))  # 1 s
                await self.push_frame(ResponseEndFrame())
                return
            await self.push_frame(frame, direction)

    def build(t: WebSocketTransport) -> list[Any]:
        return [t.input(), Talker(), t.output()]

    received = 0
    events: list[dict[str, Any]] = []
    async with (
        serving(build, realtime=True) as server,
        WebSocketClient.connect(server.url) as client,
    ):
        await client.send_text("talk to me")
        with anyio.fail_after(10):
            async for item in client:
                if isinstance(item, bytes):
                    received += len(item)
                    if received == 10 * FRAME:
                        await client.interrupt()
                    continue
                events.append(item)
                if item["type"] == "bot.stopped_speaking":
                    await client.end()
    kinds = [e["type"] for e in events]
    assert kinds.index("interrupted") < kinds.index("bot.stopped_speaking")
    stop = next(e for e in events if e["type"] == "bot.stopped_speaking")
    assert stop["interrupted"] is True
    received_ms = received / 32
    assert received_ms < 900  # the rest of the reply was dropped, not sent
    assert 0 < stop["played_ms"] <= received_ms  # heard <= sent: in-flight audio is not counted


async def test_tls() -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    async with serving(ssl=server_ctx) as server:
        assert server.url.startswith("wss://")
        async with WebSocketClient.connect(server.url, ssl_context=client_ctx) as client:
            audio, _ = await converse(client, numbered(10))
    assert audio == b"".join(numbered(10))


async def test_client_processor_puts_a_remote_session_in_a_local_pipeline() -> None:
    got: list[Frame] = []

    async def collect(frame: Frame) -> None:
        got.append(frame)

    frames = numbered(25)
    async with serving() as server:
        task = PipelineTask(
            [WebSocketClientProcessor(server.url)],
            start_frame=StartFrame(input_sample_rate=16000, output_sample_rate=16000),
            on_output=collect,
        )
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(task.run)
                await task.queue_frame(TextFrame("hi"))
                for f in frames:
                    await task.queue_frame(InputAudioFrame(f, 16000))
                await task.stop_when_done()
    audio = b"".join(f.audio for f in got if isinstance(f, OutputAudioFrame))
    assert audio == b"".join(frames)
    transcripts = [f.text for f in got if isinstance(f, TranscriptionFrame)]
    assert transcripts == ["you said hi"]
    assert task.errors == []


async def test_client_processor_reports_a_lost_server_as_fatal() -> None:
    async with serving(idle_timeout=0.1) as server:
        task = PipelineTask([WebSocketClientProcessor(server.url)])
        with anyio.fail_after(10):
            await task.run()  # the server closes the idle session; the local pipeline stops
    assert [e.code for e in task.errors if e.fatal] == ["stream_closed"]
    assert str(CLOSE_IDLE) in task.errors[-1].message


async def test_twilio_media_streams_round_trip() -> None:
    pcm = (3000 * np.sin(np.arange(8000) / 8000 * 2 * np.pi * 300)).astype("<i2").tobytes()
    mulaw = ulaw_encode(pcm)
    async with (
        serving(serializer_factory=TwilioSerializer) as server,
        connect(server.url) as ws,
    ):
        await ws.send(json.dumps({"event": "connected", "protocol": "Call"}))
        start = {"streamSid": "MZ1", "callSid": "CA1", "mediaFormat": {"sampleRate": 8000}}
        await ws.send(json.dumps({"event": "start", "streamSid": "MZ1", "start": start}))
        for i in range(0, len(mulaw), 160):
            payload = base64.b64encode(mulaw[i : i + 160]).decode()
            media = {"track": "inbound", "chunk": str(i // 160), "payload": payload}
            await ws.send(json.dumps({"event": "media", "streamSid": "MZ1", "media": media}))
        await ws.send(json.dumps({"event": "stop", "streamSid": "MZ1"}))
        back = bytearray()
        kinds = []
        async for message in ws:
            event = json.loads(message)
            assert event["streamSid"] == "MZ1"
            kinds.append(event["event"])
            if event["event"] == "media":
                back += base64.b64decode(event["media"]["payload"])
    assert ulaw_decode(bytes(back)) == ulaw_decode(mulaw)  # 1 s of call audio, in order
    assert kinds == ["media", "mark"] * (len(kinds) // 2)  # a mark after every chunk


async def test_100_clients_stream_10_seconds_each_without_loss_or_reordering() -> None:
    frames = numbered(500)  # 10 s of 20 ms frames, each numbered
    expected = b"".join(frames)
    results: list[bool] = []

    async def one(url: str) -> None:
        async with WebSocketClient.connect(url) as client:
            audio, _ = await converse(client, frames)
        results.append(audio == expected)

    async with serving(max_sessions=100) as server:
        with anyio.fail_after(45):
            async with anyio.create_task_group() as tg:
                for _ in range(100):
                    tg.start_soon(one, server.url)
            await server.wait_idle()
        assert server.sessions_served == 100 and server.sessions_failed == 0
    assert results == [True] * 100
