"""Opening the BidiGenerateContent WebSocket, with errors mapped and a redacting logger.

The API key travels in the ``x-goog-api-key`` header (a Vertex AI token in
``Authorization: Bearer``), never in the URL, so it cannot end up in a proxy's access log.
``websockets`` logs handshake headers at debug level: the connection therefore gets a logger
whose filter scrubs every record through :func:`~beluga_voice.providers.errors.redact`.
"""

from __future__ import annotations

import logging
import ssl

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

from ..errors import ErrorCode, S2SError, code_from_http_status, redact

__all__ = ["auth_headers", "open_websocket", "wire_logger"]


class _RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


def _make_wire_logger() -> logging.Logger:
    logger = logging.getLogger("beluga_voice.providers.gemini.wire")
    if not any(isinstance(f, _RedactFilter) for f in logger.filters):
        logger.addFilter(_RedactFilter())
    return logger


wire_logger = _make_wire_logger()


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
    try:
        return await connect(
            url,
            additional_headers=headers,
            open_timeout=timeout,
            max_size=None,
            compression=None,
            logger=wire_logger,
            user_agent_header="beluga-voice",
            ssl=ssl_context if url.startswith("wss://") else None,
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        raise S2SError(
            "connect",
            code_from_http_status(status),
            f"gemini: handshake rejected with HTTP {status}",
            details={"status": status},
        ) from None
    except InvalidURI:
        raise S2SError("connect", ErrorCode.INVALID_CONFIG, "gemini: bad URL") from None
    except InvalidHandshake as exc:
        raise S2SError(
            "connect", ErrorCode.NETWORK_ERROR, f"gemini: handshake failed: {redact(str(exc))}"
        ) from None
    except TimeoutError:
        raise S2SError(
            "connect", ErrorCode.TIMEOUT, f"gemini: no handshake within {timeout:g} s"
        ) from None
    except OSError as exc:
        raise S2SError("connect", ErrorCode.NETWORK_ERROR, f"gemini: {redact(str(exc))}") from None
