"""The picows engine against a real ``websockets`` client: what the protocol and the server
promise (messages, close codes, backpressure, shutdown), one behaviour per test."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from beluga_voice.frames import Direction, Frame, OutputAudioFrame, TextFrame
from beluga_voice.pipeline import FrameProcessor
from beluga_voice.transports.websocket import (
    CLOSE_IDLE,
    CLOSE_TRY_AGAIN,
    ServerConfig,
    WebSocketServer,
    WebSocketTransport,
    picows_engine,
)
from beluga_voice.transports.websocket.picows_connection import (
    MAX_QUEUE,
    RECV_BUFFER,
    PicowsConnection,
)
from beluga_voice.transports.websocket.picows_engine import PicowsEngine

pytestmark = pytest.mark.anyio


class EchoServer(WebSocketServer):
    """Each session echoes every message back; what it read is kept in ``received``."""

    def __init__(self, *, hold: bool = False, **cfg: Any) -> None:
        super().__init__(lambda t: [], ServerConfig(engine="picows", **cfg))
        self.received: list[str | bytes] = []
        self.connections: list[Any] = []
        self.joined = anyio.Event()
        self.hold = anyio.Event()
        """Sessions read nothing until this is set (``hold=False``: set from the start)."""
        if not hold:
            self.hold.set()

    async def _run_session(self, ws: Any, session_id: str) -> None:
        self.connections.append(ws)
        self.joined.set()
        await self.hold.wait()
        with contextlib.suppress(ConnectionClosed):  # the tests close in many ways
            async for message in ws:
                self.received.append(message)
                await ws.send(message)


@asynccontextmanager
async def echo_server(*, hold: bool = False, **cfg: Any) -> AsyncIterator[EchoServer]:
    async with EchoServer(hold=hold, **cfg) as server:
        assert isinstance(server._server, PicowsEngine)
        yield server


async def closed_code(ws: ClientConnection) -> tuple[int | None, str | None]:
    """Read until the server closes; its close code and reason."""
    with anyio.fail_after(5), pytest.raises(ConnectionClosed):
        while True:
            await ws.recv()
    return ws.close_code, ws.close_reason


async def test_fragmented_messages_arrive_whole() -> None:
    async with echo_server() as server, connect(server.url) as ws:
        await ws.send([b"ab", b"cd", b"ef"])  # three frames: BINARY, CONTINUATION x2
        assert await ws.recv() == b"abcdef"
        # A character split between two frames is still one valid text message.
        ws.protocol.send_text("h\u00e9".encode()[:2], fin=False)
        ws.protocol.send_continuation("h\u00e9".encode()[2:], fin=True)
        ws.send_data()
        assert await ws.recv() == "h\u00e9"
    assert server.received == [b"abcdef", "h\u00e9"]


@pytest.mark.parametrize("fragmented", [False, True])
async def test_an_oversized_message_is_closed_with_1009(
    fragmented: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with echo_server(max_message_bytes=1000) as server, connect(server.url) as ws:
        await ws.send(b"x" * 1000)  # the limit itself is fine
        assert await ws.recv() == b"x" * 1000
        await ws.send([b"x" * 600, b"x" * 600] if fragmented else b"x" * 1001)
        code, _ = await closed_code(ws)
    assert code == 1009
    assert server.received == [b"x" * 1000]
    # The client's fault: worth an INFO line, not an ERROR (picows' own level for it).
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_invalid_utf8_text_is_closed_with_1007() -> None:
    async with echo_server() as server, connect(server.url) as ws:
        ws.protocol.send_text(b"\xff\xfe")  # websockets' client would refuse to send this
        ws.send_data()
        code, _ = await closed_code(ws)
    assert code == 1007 and server.received == []


async def test_a_ping_gets_a_pong() -> None:
    async with echo_server() as server, connect(server.url) as ws:
        pong = await ws.ping(b"are you there")
        with anyio.fail_after(5):
            await pong


async def test_a_peer_that_stops_answering_pings_is_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(picows_engine, "PING_INTERVAL", 0.1)
    monkeypatch.setattr(picows_engine, "PING_TIMEOUT", 0.1)  # picows: at most the interval
    async with echo_server() as server, connect(server.url) as ws:
        await ws.send(b"hi")
        assert await ws.recv() == b"hi"
        ws.transport.pause_reading()  # the pings go unanswered
        with anyio.fail_after(5):
            await server.connections[0].wait_closed()
        ws.transport.abort()


async def test_try_again_and_idle_close_codes_and_reasons_reach_the_client() -> None:
    def build(t: WebSocketTransport) -> list[Any]:
        return [t.input(), t.output()]

    config = ServerConfig(engine="picows", max_sessions=1, idle_timeout=0.3, realtime=False)
    async with WebSocketServer(build, config) as server, connect(server.url) as first:
        await first.recv()  # session.started
        async with connect(server.url) as second:
            assert await closed_code(second) == (
                CLOSE_TRY_AGAIN,
                "server busy: too many sessions",
            )
        assert await closed_code(first) == (CLOSE_IDLE, "idle timeout")


class Flood(FrameProcessor):
    """Any text: bot audio without end, as fast as the connection takes it."""

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, TextFrame):
            while True:  # until the session ends
                await self.push_frame(OutputAudioFrame(bytes(32000), 16000))
        await self.push_frame(frame, direction)


def flood_pipeline(t: WebSocketTransport) -> list[Any]:
    return [t.input(), Flood(), t.output()]


def flood_config(**options: Any) -> ServerConfig:
    return ServerConfig(
        engine="picows",
        input_sample_rate=16000,
        output_sample_rate=16000,
        realtime=False,
        stop_timeout=0.5,  # the flood never ends by itself: the session is cancelled
        **options,
    )


async def test_a_client_that_stops_reading_is_dropped_and_others_go_on() -> None:
    transports: list[WebSocketTransport] = []

    def build(t: WebSocketTransport) -> list[Any]:
        transports.append(t)
        return flood_pipeline(t)

    async with WebSocketServer(build, flood_config(send_timeout=0.5)) as server:
        # The clients queue what they do not read (a full queue would stop them reading the
        # server's close frame, and their close would wait its timeout).
        async with (
            connect(server.url, max_queue=None) as deaf,
            connect(server.url, max_queue=None) as other,
        ):
            await deaf.recv()
            deaf.transport.pause_reading()  # reads nothing more: the server's sends wait
            await deaf.send('{"type": "text", "text": "talk"}')
            with anyio.fail_after(10):
                await transports[0].closing.wait()
            assert transports[0].close_reason == "not_reading"
            deaf.transport.abort()  # (it would wait its close timeout: it reads nothing)
            # The other session is served meanwhile and after.
            await other.recv()
            await other.send('{"type": "text", "text": "talk"}')
            got = 0
            with anyio.fail_after(10):
                while got < 32000:
                    message = await other.recv()
                    got += len(message) if isinstance(message, bytes) else 0
        with anyio.fail_after(10):
            await server.wait_idle()
        assert server.sessions_failed == 0


async def test_an_abrupt_disconnect_mid_reply_leaves_the_server_serving() -> None:
    async with WebSocketServer(flood_pipeline, flood_config()) as server:
        async with connect(server.url, max_queue=None) as gone:
            await gone.recv()
            await gone.send('{"type": "text", "text": "talk"}')
            while not isinstance(await gone.recv(), bytes):
                pass  # the reply has started
            gone.transport.abort()  # no close frame: the cable is cut
        with anyio.fail_after(10):
            await server.wait_idle()
        async with connect(server.url, max_queue=None) as next_one:
            await next_one.send('{"type": "text", "text": "talk"}')
            with anyio.fail_after(10):
                while not isinstance(await next_one.recv(), bytes):
                    pass
        assert server.sessions_failed == 0


class Watched(PicowsConnection):
    """Records the longest receive queue and tells when reading was paused."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.peak = 0
        self.pauses = 0
        self.paused = anyio.Event()

    def _put(self, message: str | bytes) -> None:
        was_paused = self._reading_paused
        super()._put(message)
        self.peak = max(self.peak, len(self._queue))
        if self._reading_paused and not was_paused:
            self.pauses += 1
            self.paused.set()


async def test_a_flooding_client_costs_a_bounded_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    """4 MB sent at once to a session that does not read: the server stops reading at
    MAX_QUEUE messages plus the rest of one socket read (at most what the capped receive
    buffer holds) and loses nothing."""
    monkeypatch.setattr(picows_engine, "PicowsConnection", Watched)
    count, size = 1000, 4096
    async with echo_server(hold=True) as server, connect(server.url, max_queue=None) as ws:
        for i in range(count):  # written without waiting for the server: it all queues
            ws.protocol.send_binary(i.to_bytes(4, "big") * (size // 4))
        ws.send_data()
        with anyio.fail_after(10):
            await server.joined.wait()
            conn = server.connections[0]
            await conn.paused.wait()
        server.hold.set()
        with anyio.fail_after(30):
            for i in range(count):
                assert await ws.recv() == i.to_bytes(4, "big") * (size // 4)
    # Linux doubles SO_RCVBUF; one read is at most that.
    assert conn.peak <= MAX_QUEUE + 2 * RECV_BUFFER // size
    assert conn.pauses > 1  # paused, resumed when drained, paused again...


async def test_a_close_handshake_the_peer_never_answers_is_cut_at_close_timeout() -> None:
    async with echo_server(close_timeout=0.3) as server, connect(server.url) as ws:
        await ws.send(b"hi")
        assert await ws.recv() == b"hi"
        ws.transport.pause_reading()  # it will never read (nor answer) the close frame
        conn = server.connections[0]
        with anyio.fail_after(5):
            await conn.close(4000, "bye")
        assert conn.transport.is_closing()
        ws.transport.abort()  # (its own close would wait for the frame it does not read)


async def test_shutdown_with_live_sessions_releases_every_socket() -> None:
    server = EchoServer()
    await server.start()
    engine = server._server
    assert isinstance(engine, PicowsEngine)
    clients = [await connect(server.url) for _ in range(3)]
    stalled = await anyio.connect_tcp("127.0.0.1", server.port)  # no HTTP request yet
    try:
        for ws in clients:
            await ws.send(b"hi")
            assert await ws.recv() == b"hi"
        with anyio.fail_after(10):
            await server.close()
        assert not engine.connections and not engine.handlers
        assert server.active_sessions == 0
        assert all(c.transport.is_closing() for c in server.connections)
        for ws in clients:
            code, _ = await closed_code(ws)
            assert code == 1001
        with anyio.fail_after(5), pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
            await stalled.receive()  # a connection still in its handshake is dropped too
    finally:
        await stalled.aclose()
        for ws in clients:
            await ws.close()


def test_auto_is_picows_when_installed_and_websockets_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    from beluga_voice.transports.websocket.config import resolve_engine

    assert resolve_engine("auto") == "picows"
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "picows" else real(name)
    )
    assert resolve_engine("auto") == "websockets"  # the fallback, with no error
    with pytest.raises(ValueError, match="picows engine is not installed"):
        ServerConfig(engine="picows")
    with pytest.raises(ValueError, match="unknown WebSocket engine"):
        ServerConfig(engine="tornado")  # type: ignore[arg-type]
