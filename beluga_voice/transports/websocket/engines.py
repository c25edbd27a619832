"""The WebSocket implementations a :class:`~.server.WebSocketServer` listens with.

Two engines carry the same sessions (see docs/transports.md for the measurements):

* ``picows`` (:mod:`.picows_engine`): frames parsed and written in C; each connection is a
  :class:`~.picows_connection.PicowsConnection`.  The default when installed.
* ``websockets``: the pure-Python library; the fallback (``ServerConfig(engine=...)`` or
  ``serve --engine websockets``).

Either way the server's own code sees one thing: a connection with ``websockets``' API,
requests answered by its :meth:`~.handshake.RequestHandling._process_request`, and every
session run by its ``_handle``.  An engine only listens, routes and shuts down.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import anyio
from websockets.asyncio.server import Server, serve
from websockets.http11 import Request, Response
from websockets.typing import Origin, Subprotocol

from .config import ServerConfig, resolve_engine
from .handshake import Responder

__all__ = ["App", "Engine", "Feedable", "ServerSocket", "WebsocketsEngine", "start_engine"]

PING_INTERVAL = 20.0
"""Seconds without traffic before a keepalive ping (``websockets``' default)."""
PING_TIMEOUT = 20.0
"""Seconds a ping may wait for its pong before the peer is dropped.  At most
:data:`PING_INTERVAL`: picows drops every connection at accept otherwise."""
OPEN_TIMEOUT = 10.0
"""Seconds a new connection has to send its handshake request."""


class ServerSocket(Protocol):
    """One accepted connection on either engine: the part of ``websockets``'
    ``ServerConnection`` the session code uses (and all a picows connection offers)."""

    @property
    def request(self) -> Request | None: ...

    @property
    def remote_address(self) -> Any: ...

    @property
    def transport(self) -> Any:
        """The socket's asyncio transport: ``transport.abort()`` drops the peer."""

    @property
    def subprotocol(self) -> Subprotocol | None: ...

    async def recv(self) -> str | bytes: ...

    async def send(self, message: str | bytes) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...

    def __aiter__(self) -> AsyncIterator[str | bytes]: ...


@runtime_checkable
class Feedable(Protocol):
    """A connection that offers each message to ``feed`` from its I/O callback, first,
    while a task waits on it for the next message and none is queued (picows').

    ``feed`` returns True when it has handled the message; False leaves the message to
    the waiting task as usual.  Why: the task's wake-up and its walk back up a stack of
    awaits cost more than handling a 20 ms audio frame does.
    """

    feed: Callable[[str | bytes], bool] | None


class App(Protocol):
    """What an engine needs of the server it listens for."""

    config: ServerConfig
    subprotocols: Sequence[str]

    def _handle(self, ws: ServerSocket) -> Awaitable[None]: ...

    def _process_request(self, connection: Responder, request: Request) -> Response | None: ...

    def _select_subprotocol(
        self, connection: object, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None: ...


class Engine(Protocol):
    """A listening server: its sockets, and a close that ends every session."""

    @property
    def sockets(self) -> Sequence[Any]: ...

    async def close(self) -> None:
        """Stop listening, close live connections (1001), wait for their handlers."""

    async def serve_forever(self) -> None:
        """Return once the engine is closed."""


async def start_engine(app: App) -> Engine:
    """Listen for ``app`` on the engine its config names."""
    if resolve_engine(app.config.engine) == "picows":
        from .picows_engine import PicowsEngine

        return await PicowsEngine.start(app)
    return await WebsocketsEngine.start(app)


class WebsocketsEngine:
    """The ``websockets`` library's server (it does the handshake checks itself)."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self._closed = anyio.Event()

    @classmethod
    async def start(cls, app: App) -> WebsocketsEngine:
        cfg = app.config
        process_request: Callable[..., Response | None] = app._process_request
        server = await serve(
            app._handle,
            cfg.host,
            cfg.port,
            ssl=cfg.ssl,
            origins=(
                [Origin(o) for o in cfg.allowed_origins]
                if cfg.allowed_origins is not None
                else None
            ),
            max_size=cfg.max_message_bytes,
            process_request=process_request,
            select_subprotocol=app._select_subprotocol if app.subprotocols else None,
            compression=None,  # audio does not compress; deflate would only cost CPU
            reuse_port=cfg.reuse_port or None,
            open_timeout=OPEN_TIMEOUT,
            ping_interval=PING_INTERVAL,
            ping_timeout=PING_TIMEOUT,
            close_timeout=cfg.close_timeout,
        )
        return cls(server)

    @property
    def sockets(self) -> Sequence[Any]:
        return tuple(self._server.sockets)

    async def close(self) -> None:
        self._server.close()
        try:
            await self._server.wait_closed()
        finally:
            self._closed.set()

    async def serve_forever(self) -> None:
        await self._closed.wait()
