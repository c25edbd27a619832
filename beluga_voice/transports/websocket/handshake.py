"""The HTTP side of a :class:`~.server.WebSocketServer`: what a request is answered with
before it may become a session.

Both engines (see :mod:`.engines`) call the same :meth:`RequestHandling._process_request`
with a request in ``websockets``' terms (:class:`~websockets.http11.Request`: path and
headers) and a *responder*, anything with ``respond(status, text)``: a ``websockets``
connection, or :data:`RESPONDER` on picows.  So token checks (``Authorization: Bearer`` or
``?access_token=``), ``/healthz`` and ``/readyz``, the browser page and a subclass's own
routes are written once and behave the same on either engine.
"""

from __future__ import annotations

import dataclasses
import email.utils
import hmac
import os
from collections.abc import Sequence
from http import HTTPStatus
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from pydantic import SecretStr
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from .config import ServerConfig
from .page import client_asset

__all__ = ["RESPONDER", "RequestHandling", "Responder", "offered_subprotocols", "plain_response"]


class Responder(Protocol):
    """Makes the plain-text response that refuses a request (``websockets``' connections
    have this method; :data:`RESPONDER` is the engine-neutral one)."""

    def respond(self, status: HTTPStatus, text: str) -> Response: ...


def plain_response(status: HTTPStatus | int, text: str) -> Response:
    """A short plain-text response, as ``websockets`` writes one (same headers)."""
    status = HTTPStatus(status)
    body = text.encode()
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", "text/plain; charset=utf-8"),
        ]
    )
    return Response(status.value, status.phrase, headers, body)


class _PlainResponder:
    def respond(self, status: HTTPStatus, text: str) -> Response:
        return plain_response(status, text)


RESPONDER: Responder = _PlainResponder()
"""The responder of engines that have no connection object before the upgrade."""


def offered_subprotocols(headers: Headers) -> list[Subprotocol]:
    """The subprotocols a client offers (``Sec-WebSocket-Protocol``, comma-separated, in
    one header or several), in its order of preference."""
    return [
        Subprotocol(p.strip())
        for value in headers.get_all("Sec-WebSocket-Protocol")
        for p in value.split(",")
        if p.strip()
    ]


class RequestHandling:
    """The request side of :class:`~.server.WebSocketServer` (a mixin: it reads the
    server's config and state)."""

    config: ServerConfig
    draining: bool
    active_sessions: int
    client_transports: Sequence[str]
    subprotocols: Sequence[str]

    def _process_request(self, connection: Responder, request: Request) -> Response | None:
        """A response that ends the request here, or None to go on with the upgrade."""
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

    def _authorize(self, connection: Responder, request: Request) -> Response | None:
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
        self, connection: object, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        return next((p for p in offered if p in self.subprotocols), None)

    def _offered_token(self, request: Request) -> str | None:
        """The token the client offers (subclasses may accept it in more places)."""
        return _offered_token(request.path, request.headers)


def _offered_token(path: str, headers: Headers) -> str | None:
    auth = headers.get("Authorization")
    if auth is not None:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value:
            return value.strip()
        return None
    values = parse_qs(urlsplit(path).query).get("access_token")
    return values[0] if values else None
