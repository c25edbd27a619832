"""The BidiGenerateContent WebSocket on the shared, redacting opener.

The API key travels in the ``x-goog-api-key`` header (a Vertex AI token in
``Authorization: Bearer``), never in the URL, so it cannot end up in a proxy's access log.
"""

from __future__ import annotations

import ssl

from websockets.asyncio.client import ClientConnection

from ..websocket import open_websocket as _open
from ..websocket import redacting_logger

__all__ = ["auth_headers", "open_websocket", "wire_logger"]

wire_logger = redacting_logger("beluga_voice.providers.gemini.wire")


def auth_headers(secret: str, *, vertexai: bool) -> dict[str, str]:
    """The credential header: an API key for Gemini, a bearer token for Vertex AI."""
    if vertexai:
        return {"Authorization": f"Bearer {secret}"}
    return {"x-goog-api-key": secret}


async def open_websocket(
    url: str,
    headers: dict[str, str],
    *,
    timeout: float,
    ssl_context: ssl.SSLContext | None = None,
) -> ClientConnection:
    """Connect; any failure is an :class:`S2SError` that names no secret."""
    return await _open(
        url,
        headers,
        timeout=timeout,
        provider="gemini",
        logger=wire_logger,
        ssl_context=ssl_context,
    )
