"""A WebSocket server hosting one pipeline per connection.

The user gives a factory that builds the pipeline of one session around its transport::

    def build(transport: WebSocketTransport):
        return [transport.input(), S2SProcessor(provider), transport.output()]

    async with WebSocketServer(build, ServerConfig(port=8765, token="...")) as server:
        await server.serve_forever()

Each connection runs its own :class:`~beluga_voice.pipeline.PipelineTask`; a session that
fails is closed (1011) and logged, and the server and the other sessions carry on.

Security and limits (:class:`ServerConfig`): a bearer token (required on any non-loopback
address: ``Authorization: Bearer <token>``, or ``?access_token=`` for browsers, which cannot
set headers), allowed ``Origin`` values (403 otherwise), a maximum message size (close
1009), a maximum number of concurrent sessions (close 1013 "try again later" beyond it),
an idle timeout (close 4408) and TLS through an :class:`ssl.SSLContext`.

For load balancers: ``GET /healthz`` answers 200 while the process serves, ``GET /readyz``
200 while it takes new sessions (503 when full or draining).  :meth:`WebSocketServer.drain`
(what ``serve`` does on SIGTERM) turns new sessions away with 1013 and lets live ones finish
up to a deadline.  ``reuse_port`` lets several processes listen on one port (SO_REUSEPORT).

Connections are served by an *engine* (:mod:`.engines`): picows by default (frames parsed
in C), ``websockets`` as the fallback (:attr:`ServerConfig.engine`).  The session code
below sees the same connection API on both.  The HTTP side (tokens, health checks, the
browser page) is :mod:`.handshake`.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Final

import anyio
from websockets.exceptions import ConnectionClosed

from ...frames import ErrorFrame, StartFrame
from ...pipeline import Node, PipelineTask
from ...secrets import redact
from .config import ServerConfig
from .engines import Engine, ServerSocket, start_engine
from .handshake import RequestHandling
from .protocol import DefaultSerializer, Serializer
from .transport import WebSocketTransport

__all__ = [
    "CLOSE_TRY_AGAIN",
    "PipelineFactory",
    "ServerConfig",
    "SessionRefused",
    "WebSocketServer",
]

log = logging.getLogger("beluga_voice.transports.websocket")

CLOSE_TRY_AGAIN: Final = 1013
CLOSE_INTERNAL: Final = 1011

PipelineFactory = Callable[
    [WebSocketTransport], Node | Sequence[Node] | Awaitable[Node | Sequence[Node]]
]


class WebSocketServer(RequestHandling):
    """Hosts one pipeline per connection; use as ``async with`` (see the module docstring).

    ``serializer_factory`` makes the wire format of each connection (default:
    :class:`~.protocol.DefaultSerializer`; the carriers of :mod:`beluga_voice.transports.telephony` for phone calls).
    """

    client_transports: Sequence[str] = ("websocket",)
    """What the page at ``/`` offers, in order of preference (a WebRTC server adds it)."""

    subprotocols: Sequence[str] = ()
    """Subprotocols the server selects when a client offers one (subclasses speaking
    another protocol set this); a client that offers none is accepted all the same."""

    def __init__(
        self,
        factory: PipelineFactory,
        config: ServerConfig | None = None,
        *,
        serializer_factory: Callable[[], Serializer] = DefaultSerializer,
    ) -> None:
        self.factory = factory
        self.config = config or ServerConfig()
        self.serializer_factory = serializer_factory
        self.active_sessions = 0
        self.sessions_served = 0
        self.sessions_failed = 0
        self.sessions_rejected = 0
        self._server: Engine | None = None
        self._ids = itertools.count(1)
        self._no_sessions = anyio.Event()
        self._no_sessions.set()
        self.draining = False

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> WebSocketServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Listen, on the engine the config names (:attr:`ServerConfig.engine`)."""
        self._server = await start_engine(self)

    async def close(self) -> None:
        """Stop listening and end every live session (closed with 1001, going away)."""
        if self._server is not None:
            server, self._server = self._server, None
            await server.close()

    async def drain(self, deadline: float) -> bool:
        """Stop taking sessions (new ones get 1013, ``/readyz`` 503) and wait up to
        ``deadline`` seconds for the live ones to end; then close the server (sessions still
        running are closed with 1001).  True when every session ended in time."""
        self.draining = True
        with anyio.move_on_after(deadline):
            await self.wait_idle()
        finished = not self.active_sessions
        if not finished:
            log.warning("drain deadline: closing %d live sessions", self.active_sessions)
        await self.close()
        return finished

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    async def wait_idle(self) -> None:
        """Return once no session is running (every handler has finished its bookkeeping)."""
        while self.active_sessions:
            await self._no_sessions.wait()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the server is not started")
        return int(self.sockets[0].getsockname()[1])

    @property
    def sockets(self) -> Sequence[Any]:
        """The listening sockets (empty when the server is not started)."""
        return self._server.sockets if self._server is not None else ()

    @property
    def url(self) -> str:
        scheme = "wss" if self.config.ssl is not None else "ws"
        host = self.config.host if ":" not in self.config.host else f"[{self.config.host}]"
        return f"{scheme}://{host}:{self.port}/"

    # -- sessions -----------------------------------------------------------------------------

    async def _handle(self, ws: ServerSocket) -> None:
        cfg = self.config
        if self.draining or self.active_sessions >= cfg.max_sessions:
            self.sessions_rejected += 1
            why = "server draining" if self.draining else "server busy: too many sessions"
            await ws.close(CLOSE_TRY_AGAIN, why)
            return
        self.active_sessions += 1
        if self._no_sessions.is_set():
            self._no_sessions = anyio.Event()
        session_id = f"s{next(self._ids)}-{secrets.token_hex(4)}"
        try:
            await self._run_session(ws, session_id)
            self.sessions_served += 1
        except Exception as exc:
            self.sessions_failed += 1
            log.error("session %s failed: %s", session_id, redact(repr(exc)))
            await _close_draining(ws, CLOSE_INTERNAL, "internal error")
        finally:
            self.active_sessions -= 1
            if not self.active_sessions:
                self._no_sessions.set()

    def transport_options(self) -> dict[str, Any]:
        """The transport settings of :class:`ServerConfig`, as keyword arguments."""
        cfg = self.config
        return {
            "chunk_ms": cfg.chunk_ms,
            "lead_ms": cfg.lead_ms,
            "realtime": cfg.realtime,
            "idle_timeout": cfg.idle_timeout,
            "max_protocol_errors": cfg.max_protocol_errors,
            "max_events_per_s": cfg.max_events_per_s,
            "max_audio_speed": cfg.max_audio_speed,
            "audio_burst_s": cfg.audio_burst_s,
            "send_timeout": cfg.send_timeout,
            "max_buffer_s": cfg.max_buffer_s,
        }

    @contextlib.asynccontextmanager
    async def open_transport(
        self, ws: ServerSocket, session_id: str
    ) -> AsyncIterator[WebSocketTransport]:
        """The transport of one accepted connection, released on exit.  Subclasses that
        carry a session another way (WebRTC, negotiated on this connection) override it,
        and raise :class:`SessionRefused` when the connection cannot become a session."""
        yield WebSocketTransport(
            ws, self.serializer_factory(), session_id=session_id, **self.transport_options()
        )

    async def _run_session(self, ws: ServerSocket, session_id: str) -> None:
        try:
            async with self.open_transport(ws, session_id) as transport:
                await self._run_pipeline(ws, transport, session_id)
        except SessionRefused as exc:
            self.sessions_rejected += 1
            log.info("session %s refused: %s", session_id, exc.reason)
            await _close_draining(ws, exc.code, exc.reason)
            return
        await _close_draining(ws, 1000, "session ended")

    async def _run_pipeline(
        self, ws: ServerSocket, transport: WebSocketTransport, session_id: str
    ) -> None:
        cfg = self.config
        serializer = transport.serializer
        built: Any = self.factory(transport)
        if inspect.isawaitable(built):
            built = await built
        start = StartFrame(
            input_sample_rate=serializer.input_sample_rate or cfg.input_sample_rate,
            output_sample_rate=serializer.output_sample_rate or cfg.output_sample_rate,
            channels=serializer.channels,
            metadata={"session_id": session_id},
            audio_encoding=serializer.audio_encoding,
        )

        async def report(frame: ErrorFrame) -> None:
            await transport.send_error(frame.code, redact(frame.message), fatal=frame.fatal)

        task = PipelineTask(
            built, start_frame=start, stop_timeout=cfg.stop_timeout, on_error=report
        )
        for message in serializer.greeting(start, session_id):
            await transport.send(message)

        async with anyio.create_task_group() as tg:

            async def run() -> None:
                await task.run()
                tg.cancel_scope.cancel()

            tg.start_soon(run)
            await transport.closing.wait()
            if transport.close_reason == "end":
                await task.stop_when_done()
            else:
                await task.cancel()

        if transport.close_reason in (None, "end"):
            reason = "pipeline_ended" if transport.close_reason is None else "client_end"
            for message in serializer.farewell(reason):
                await transport.send(message)


class SessionRefused(Exception):
    """A connection that cannot become a session (a failed negotiation): the server closes
    it with ``code`` and ``reason`` and counts it as rejected, not as a server failure."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def _close_draining(ws: ServerSocket, code: int, reason: str) -> None:
    """Close ``ws``, reading (and dropping) what the peer still sends meanwhile.

    Nobody reads the connection once the session is over, and the peer's answer to our
    close frame may be queued behind messages it sent before (a flood that was refused):
    unread, they stop the engine reading the socket and the close would wait its full
    timeout (10 s), holding the session's slot.  The close is bounded by the close
    timeout either way.
    """

    async def drain() -> None:
        with contextlib.suppress(ConnectionClosed):
            async for _ in ws:
                pass

    async with anyio.create_task_group() as tg:
        tg.start_soon(drain)
        with contextlib.suppress(ConnectionClosed):  # the peer may have gone first
            await ws.close(code, reason)
        tg.cancel_scope.cancel()
