"""The Realtime WebSocket: ``Authorization: Bearer`` on the shared, redacting opener."""

from __future__ import annotations

from websockets.asyncio.client import ClientConnection

from ..websocket import open_websocket as _open
from ..websocket import redacting_logger

__all__ = ["open_websocket", "wire_logger"]

wire_logger = redacting_logger("beluga_voice.providers.openai_realtime.wire")


async def open_websocket(
    url: str, api_key: str, *, timeout: float, provider: str
) -> ClientConnection:
    """Connect with ``Authorization: Bearer``.  Failures are S2SErrors without the key."""
    headers = {"Authorization": f"Bearer {api_key}"}
    return await _open(url, headers, timeout=timeout, provider=provider, logger=wire_logger)
