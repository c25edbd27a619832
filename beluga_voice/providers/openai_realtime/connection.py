"""The Realtime WebSocket, opened on the shared, redacting opener.

The credentials travel in the handshake headers the dialect names: ``Authorization:
Bearer`` for OpenAI and xAI, ``api-key`` for Azure OpenAI.
"""

from __future__ import annotations

from websockets.asyncio.client import ClientConnection

from ..websocket import open_websocket as _open
from ..websocket import redacting_logger

__all__ = ["open_websocket", "wire_logger"]

wire_logger = redacting_logger("beluga_voice.providers.openai_realtime.wire")


async def open_websocket(
    url: str, headers: dict[str, str], *, timeout: float, provider: str
) -> ClientConnection:
    """Connect with ``headers``.  Failures are S2SErrors without the key."""
    return await _open(url, headers, timeout=timeout, provider=provider, logger=wire_logger)
