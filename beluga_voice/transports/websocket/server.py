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
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import inspect
import ipaddress
import itertools
import logging
import os
import secrets
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import anyio
from pydantic import SecretStr
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Origin, Subprotocol

from ...frames import ErrorFrame, StartFrame
from ...pipeline import Node, PipelineTask
from ...secrets import redact, register_secret
from .page import client_asset
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

MIN_TOKEN_LENGTH: Final = 16
"""Shortest bearer token a server on a non-loopback address accepts (a guessable token on
an open port is no protection)."""
CLOSE_TRY_AGAIN: Final = 1013
CLOSE_INTERNAL: Final = 1011

PipelineFactory = Callable[
    [WebSocketTransport], Node | Sequence[Node] | Awaitable[Node | Sequence[Node]]
]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(slots=True)
class ServerConfig:
    """Where to listen and what to allow.  See the module docstring."""

    host: str = "127.0.0.1"
    port: int = 0
    token: SecretStr | str | None = field(default=None, repr=False)
    """The bearer token clients must send; a ``str`` is wrapped in a ``SecretStr``."""
    allowed_origins: Sequence[str] | None = None
    max_message_bytes: int = 256 * 1024
    max_sessions: int = 100
    idle_timeout: float | None = 60.0
    ssl: ssl.SSLContext | None = None
    input_sample_rate: int = 16000
    output_sample_rate: int = 24000
    chunk_ms: float = 20.0
    lead_ms: float = 100.0
    """How far ahead of playback audio may be sent: the client's jitter buffer (it must drop
    it on ``interrupted``).  Network jitter up to this much costs no added latency."""
    realtime: bool = True
    """Pace output at playback speed (False: send as fast as produced, for tests and files)."""
    stop_timeout: float = 2.0
    max_protocol_errors: int = 20
    max_events_per_s: float = 20.0
    """Client events (not audio) per second, with a burst of twice that; beyond it each is
    refused with an ``error`` (``rate_limited``), and counts as a protocol error."""
    max_audio_speed: float = 3.0
    """How much faster than real time a client may send audio once ``audio_burst_s`` is
    spent; faster audio is read later (backpressure), never dropped."""
    audio_burst_s: float = 10.0
    send_timeout: float = 10.0
    """A client whose connection has not taken a message for this long is dropped."""
    max_buffer_s: float = 10.0
    """Bot audio waiting to be sent, at most (backpressure on the pipeline beyond it)."""
    serve_client_page: bool = True
    """Answer a plain ``GET /`` or ``/client`` with the browser client (see :mod:`.page`)."""
    reuse_port: bool = False
    """Share the port with other processes (SO_REUSEPORT: the kernel spreads connections)."""

    def __setattr__(self, name: str, value: object) -> None:
        # A token is kept secret and redacted from logs whenever it is set, not only at
        # creation: a server's token may be rotated on a live config.
        if name == "token" and value is not None:
            secret = value if isinstance(value, SecretStr) else SecretStr(str(value))
            register_secret(secret.get_secret_value())
            value = secret
        object.__setattr__(self, name, value)

    def __post_init__(self) -> None:
        if not _is_loopback(self.host):
            token = self.token.get_secret_value() if isinstance(self.token, SecretStr) else ""
            if len(token.strip()) < MIN_TOKEN_LENGTH:
                raise ValueError(
                    f"a token is required (at least {MIN_TOKEN_LENGTH} characters) to listen "
                    f"on the non-loopback address {self.host!r}"
                )
        if self.max_sessions < 1 or self.max_message_bytes < 1:
            raise ValueError("max_sessions and max_message_bytes must be positive")
        if self.reuse_port and not hasattr(socket, "SO_REUSEPORT"):
            raise ValueError("SO_REUSEPORT is not available on this platform: run one worker")


class WebSocketServer:
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
        self._server: Server | None = None
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
        cfg = self.config
        self._server = await serve(
            self._handle,
            cfg.host,
            cfg.port,
            ssl=cfg.ssl,
            origins=(
                [Origin(o) for o in cfg.allowed_origins]
                if cfg.allowed_origins is not None
                else None
            ),
            max_size=cfg.max_message_bytes,
            process_request=self._process_request,
            select_subprotocol=self._select_subprotocol if self.subprotocols else None,
            compression=None,  # audio does not compress; deflate would only cost CPU
            reuse_port=cfg.reuse_port or None,
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

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
        return int(next(iter(self._server.sockets)).getsockname()[1])

    @property
    def url(self) -> str:
        scheme = "wss" if self.config.ssl is not None else "ws"
        host = self.config.host if ":" not in self.config.host else f"[{self.config.host}]"
        return f"{scheme}://{host}:{self.port}/"

    # -- handshake --------------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        plain = "upgrade" not in request.headers.get("Connection", "").lower()
        if plain and path in ("/healthz", "/readyz"):
            # No auth: load balancers probe these, and they reveal nothing but the state.
            ready = not self.draining and self.active_sessions < self.config.max_sessions
            if path == "/healthz" or ready:
                return connection.respond(HTTPStatus.OK, f"ok pid={os.getpid()}\n")
            state = "draining" if self.draining else "full"
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, f"{state}\n")
        if self.config.serve_client_page and plain:
            # The page holds no secret (it asks the user for the token), so no auth here.
            asset = client_asset(path, self.client_transports)
            if asset is not None:
                content_type, body = asset
                page = connection.respond(HTTPStatus.OK, "")
                del page.headers["Content-Type"], page.headers["Content-Length"]
                page.headers.update(
                    {
                        "Content-Type": content_type,
                        "Content-Length": str(len(body)),
                        "Cache-Control": "no-cache",
                    }
                )
                return dataclasses.replace(page, body=body)
        return self._authorize(connection, request)

    def _authorize(self, connection: ServerConnection, request: Request) -> Response | None:
        token = self.config.token
        if token is None:
            return None
        # A str assigned after creation (which __post_init__ did not wrap) works as well.
        expected = token.get_secret_value() if isinstance(token, SecretStr) else token
        offered = self._offered_token(request)
        if offered is not None and hmac.compare_digest(offered.encode(), expected.encode()):
            return None
        response = connection.respond(HTTPStatus.UNAUTHORIZED, "missing or invalid token\n")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    def _select_subprotocol(
        self, connection: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        return next((p for p in offered if p in self.subprotocols), None)

    def _offered_token(self, request: Request) -> str | None:
        """The token the client offers (subclasses may accept it in more places)."""
        return _offered_token(request.path, request.headers)

    # -- sessions -----------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
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
        self, ws: ServerConnection, session_id: str
    ) -> AsyncIterator[WebSocketTransport]:
        """The transport of one accepted connection, released on exit.  Subclasses that
        carry a session another way (WebRTC, negotiated on this connection) override it,
        and raise :class:`SessionRefused` when the connection cannot become a session."""
        yield WebSocketTransport(
            ws, self.serializer_factory(), session_id=session_id, **self.transport_options()
        )

    async def _run_session(self, ws: ServerConnection, session_id: str) -> None:
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
        self, ws: ServerConnection, transport: WebSocketTransport, session_id: str
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


async def _close_draining(ws: ServerConnection, code: int, reason: str) -> None:
    """Close ``ws``, reading (and dropping) what the peer still sends meanwhile.

    Nobody reads the connection once the session is over, and the peer's answer to our
    close frame may be queued behind messages it sent before (a flood that was refused):
    unread, they stop websockets reading the socket and the close would wait its full
    timeout (10 s), holding the session's slot.  The close is bounded by websockets'
    close timeout either way.
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


def _offered_token(path: str, headers: Headers) -> str | None:
    auth = headers.get("Authorization")
    if auth is not None:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value:
            return value.strip()
        return None
    values = parse_qs(urlsplit(path).query).get("access_token")
    return values[0] if values else None
