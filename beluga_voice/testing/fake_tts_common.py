"""What the fake TTS servers share: deterministic "speech", the knobs every fake has, and
the loopback WebSocket server (:class:`~beluga_voice.testing.loopback.LoopbackServer`).

The audio is a tone whose length is proportional to the text (``ms_per_char`` per
character), so a test can predict how much audio a sentence makes and where each
character lies in it, which is what alignment and barge-in tests need.  ``message_ms``
bounds the audio per message; ``drop_after`` aborts the connection (no close frame) after
that many audio messages; a wrong ``api_key`` is refused at the handshake.
"""

from __future__ import annotations

import contextlib
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from ..audio.turns import tone
from .loopback import LoopbackServer, quiet_logger

__all__ = ["FakeTTSService", "speech"]


def speech(text: str, rate: int, ms_per_char: float) -> bytes:
    """A tone lasting ``len(text) * ms_per_char`` milliseconds, PCM16 mono at ``rate``."""
    return tone(len(text) * ms_per_char / 1000.0, rate, hz=330.0 + 7 * (len(text) % 40))


class FakeTTSService(LoopbackServer):
    """A fake streaming TTS on 127.0.0.1 (any free port); subclasses implement
    :meth:`check` (the handshake) and :meth:`handle` (one connection).  ``records`` is the
    fake itself: ``wait_until(lambda fake: fake.finished)`` waits for a connection's end."""

    def __init__(
        self,
        *,
        api_key: str,
        ms_per_char: float = 20.0,
        message_ms: float = 100.0,
        drop_after: int | None = None,
    ) -> None:
        super().__init__(host="127.0.0.1", port=0, logger=quiet_logger("beluga_voice.fake_tts"))
        self.api_key = api_key
        self.ms_per_char = ms_per_char
        self.message_ms = message_ms
        self.drop_after = drop_after
        self.received: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.handshakes: list[Request] = []
        self.refused: list[int] = []
        self.finished = 0
        """Connections whose handling is over."""

    @property
    def records(self) -> FakeTTSService:
        return self

    @property
    def base_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def check(self, request: Request) -> tuple[int, str] | None:
        """None to accept, or ``(status, JSON body)`` to refuse the handshake."""
        return None

    async def handle(self, ws: ServerConnection) -> None:
        raise NotImplementedError

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        self.handshakes.append(request)
        refusal = self.check(request)
        if refusal is None:
            return None
        status, body = refusal
        self.refused.append(status)
        response = connection.respond(status, body)
        response.headers["Content-Type"] = "application/json"
        return response

    async def _handle(self, ws: ServerConnection) -> None:
        try:
            with contextlib.suppress(Exception):  # a fake never dies for one client
                await self.handle(ws)
        finally:
            self.finished += 1
            self.notify()
