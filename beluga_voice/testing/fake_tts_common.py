"""What the fake TTS servers share: deterministic "speech" and a loopback WebSocket server.

The audio is a tone whose length is proportional to the text (``ms_per_char`` per
character), so a test can predict how much audio a sentence makes and where each
character lies in it, which is what alignment and barge-in tests need.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Self

import anyio
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from ..audio.turns import tone

__all__ = ["FakeWebSocketService", "speech"]


def speech(text: str, rate: int, ms_per_char: float) -> bytes:
    """A tone lasting ``len(text) * ms_per_char`` milliseconds, PCM16 mono at ``rate``."""
    return tone(len(text) * ms_per_char / 1000.0, rate, hz=330.0 + 7 * (len(text) % 40))


class FakeWebSocketService:
    """Serves one WebSocket endpoint on 127.0.0.1 (any free port); subclasses implement
    :meth:`check` (the handshake) and :meth:`handle` (one connection)."""

    def __init__(self) -> None:
        self.port = 0
        self.handshakes: list[Request] = []
        self.refused: list[int] = []
        self.finished = 0
        """Connections whose handling is over."""
        self.connection_done = anyio.Event()
        """Set when a connection's handling is over (tests wait on it)."""
        self._server: Server | None = None

    @property
    def base_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def check(self, request: Request) -> tuple[int, str] | None:
        """None to accept, or ``(status, JSON body)`` to refuse the handshake."""
        return None

    async def handle(self, ws: ServerConnection) -> None:
        raise NotImplementedError

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        self.handshakes.append(request)
        refusal = self.check(request)
        if refusal is None:
            return None
        status, body = refusal
        self.refused.append(status)
        response = connection.respond(status, body)
        response.headers["Content-Type"] = "application/json"
        return response

    async def _handler(self, ws: ServerConnection) -> None:
        try:
            with contextlib.suppress(Exception):  # a fake never dies for one client
                await self.handle(ws)
        finally:
            self.finished += 1
            self.connection_done.set()

    async def __aenter__(self) -> Self:
        handler: Callable[[ServerConnection], Awaitable[None]] = self._handler
        self._server = await serve(
            handler, "127.0.0.1", 0, process_request=self._process_request, compression=None
        )
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
