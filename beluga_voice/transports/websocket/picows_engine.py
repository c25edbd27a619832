"""The picows engine: a :class:`~.server.WebSocketServer` listening with picows.

picows calls a *router* with each parsed HTTP request before the upgrade.  The router
turns it into ``websockets``' request view (path and headers) and asks the server's
:meth:`~.handshake.RequestHandling._process_request`, so token, health checks and the
browser page behave as on ``websockets``; then it checks ``Origin`` (403) and picks the
subprotocol, as ``websockets`` would, and answers 101 with a new
:class:`~.picows_connection.PicowsConnection`.  Once the handshake is done, the server's
``_handle`` runs the session in a task this engine tracks: :meth:`PicowsEngine.close`
closes every live connection with 1001, waits for the handlers up to the close timeout,
then cancels those still running and waits for them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from multidict import CIMultiDict
from picows import (
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from .engines import OPEN_TIMEOUT, PING_INTERVAL, PING_TIMEOUT, App
from .handshake import RESPONDER, offered_subprotocols, plain_response
from .picows_connection import PicowsConnection

__all__ = ["PicowsEngine"]

log = logging.getLogger("beluga_voice.transports.websocket")

GOING_AWAY = 1001


class PicowsEngine:
    """See the module docstring; made by :meth:`start`."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.connections: set[PicowsConnection] = set()
        self.handlers: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._closed = asyncio.Event()

    @classmethod
    async def start(cls, app: App) -> PicowsEngine:
        cfg = app.config
        engine = cls(app)
        engine._server = await ws_create_server(
            engine._route,
            cfg.host,
            cfg.port,
            websocket_handshake_timeout=OPEN_TIMEOUT,
            enable_auto_ping=True,
            auto_ping_idle_timeout=PING_INTERVAL,
            auto_ping_reply_timeout=PING_TIMEOUT,
            max_frame_size=cfg.max_message_bytes,  # one frame past it: 1009 from picows
            logger_name=_PicowsLog(logging.getLogger(f"{log.name}.picows")),
            ssl=cfg.ssl,
            reuse_port=cfg.reuse_port or None,
        )
        return engine

    @property
    def sockets(self) -> Sequence[Any]:
        return tuple(self._server.sockets) if self._server is not None else ()

    # -- requests ------------------------------------------------------------------------------

    def _route(self, upgrade: WSUpgradeRequest) -> WSUpgradeResponseWithListener:
        """Answer one HTTP request: a plain response, or 101 and the connection's listener."""
        app = self.app
        request = Request(
            upgrade.path.decode("ascii", "surrogateescape"), Headers(upgrade.headers.items())
        )
        debug = log.isEnabledFor(logging.DEBUG)
        if debug:  # as websockets logs it (the log formatter redacts a token in the path)
            log.debug("> %s %s HTTP/1.1", upgrade.method.decode(errors="replace"), request.path)
        response = app._process_request(RESPONDER, request)
        if response is None:
            response = self._check_origin(request)
        if response is not None:
            if debug:
                log.debug("< HTTP/1.1 %d %s", response.status_code, response.reason_phrase)
            return WSUpgradeResponseWithListener(_to_picows(response), None)
        extra: list[tuple[str, str]] = []
        subprotocol = None
        if app.subprotocols:
            subprotocol = app._select_subprotocol(None, offered_subprotocols(request.headers))
            if subprotocol is not None:
                extra.append(("Sec-WebSocket-Protocol", subprotocol))
        connection = PicowsConnection(
            request,
            subprotocol,
            max_size=app.config.max_message_bytes,
            close_timeout=app.config.close_timeout,
            on_open=self._open,
        )
        return WSUpgradeResponseWithListener(
            WSUpgradeResponse.create_101_response(extra), connection
        )

    def _check_origin(self, request: Request) -> Response | None:
        allowed = self.app.config.allowed_origins
        if allowed is None:
            return None
        origins = request.headers.get_all("Origin")
        if len(origins) == 1 and origins[0] in allowed:
            return None
        return plain_response(HTTPStatus.FORBIDDEN, "invalid Origin header\n")

    # -- sessions ------------------------------------------------------------------------------

    def _open(self, connection: PicowsConnection) -> None:
        if self._closed.is_set():  # a handshake that finished as the server closed
            connection.abort()
            return
        self.connections.add(connection)
        task = asyncio.get_running_loop().create_task(self._run(connection))
        self.handlers.add(task)
        task.add_done_callback(self.handlers.discard)

    async def _run(self, connection: PicowsConnection) -> None:
        try:
            await self.app._handle(connection)
        except Exception:  # _handle reports session failures itself: this is a bug
            log.exception("connection handler failed")
        finally:
            # As on websockets: a handler that returns leaves a closed connection (a
            # cancelled close drops the socket).
            self.connections.discard(connection)
            await connection.close()

    async def close(self) -> None:
        """Stop listening; close live connections with 1001; wait for the handlers (up to
        the close timeout), cancel those still running, wait for them."""
        self._closed.set()
        if self._server is not None:
            self._server.close()
        try:
            closing = [c.close(GOING_AWAY) for c in list(self.connections)]
            if closing:
                await asyncio.gather(*closing, return_exceptions=True)
            if self.handlers:
                await asyncio.wait(list(self.handlers), timeout=self.app.config.close_timeout)
        finally:
            for connection in list(self.connections):
                connection.abort()
            for task in list(self.handlers):
                task.cancel()
            if self.handlers:
                await asyncio.gather(*self.handlers, return_exceptions=True)
        server = self._server
        if server is not None:
            # Connections still in their HTTP handshake are not ours yet: drop them too.
            abort_clients = getattr(server, "abort_clients", None)
            if abort_clients is not None:
                abort_clients()
            await server.wait_closed()

    async def serve_forever(self) -> None:
        await self._closed.wait()


class _PicowsLog(logging.LoggerAdapter):
    """picows' own log lines, with a peer's protocol violation (a frame over the size
    limit, a bad opcode) at INFO: picows logs it as an ERROR, and one line per
    misbehaving client at that level would let any client fill the server's log.  Our
    own failures (exceptions in the listener) stay errors."""

    def error(self, msg: object, *args: Any, **kwargs: Any) -> None:
        level = logging.INFO if str(msg).startswith("WS parser error") else logging.ERROR
        self.log(level, msg, *args, **kwargs)


def _to_picows(response: Response) -> WSUpgradeResponse:
    """``websockets``' response as picows' (picows writes Content-Length itself)."""
    out = WSUpgradeResponse()
    out.version = b"HTTP/1.1"
    out.status = HTTPStatus(response.status_code)
    out.headers = CIMultiDict(
        (k, v) for k, v in response.headers.raw_items() if k.lower() != "content-length"
    )
    out.body = bytes(response.body) if response.body else None
    return out
