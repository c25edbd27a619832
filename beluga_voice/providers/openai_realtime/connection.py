"""Opening the WebSocket, with errors mapped to :class:`S2SError` and a redacting logger.

``websockets`` logs handshake headers at debug level, and the ``Authorization`` header
carries the API key; the connection therefore gets a logger whose filter scrubs every
record through :func:`~beluga_voice.providers.errors.redact` before any handler sees it.
"""

from __future__ import annotations

import logging

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

from ..errors import ErrorCode, S2SError, code_from_http_status, redact

__all__ = ["open_websocket", "wire_logger"]


class _RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


def _make_wire_logger() -> logging.Logger:
    logger = logging.getLogger("beluga_voice.providers.openai_realtime.wire")
    if not any(isinstance(f, _RedactFilter) for f in logger.filters):
        logger.addFilter(_RedactFilter())
    return logger


wire_logger = _make_wire_logger()


async def open_websocket(
    url: str, api_key: str, *, timeout: float, provider: str
) -> ClientConnection:
    """Connect with ``Authorization: Bearer``.  Failures are S2SErrors without the key."""
    headers = {"Authorization": f"Bearer {api_key}"}
    try:
        return await connect(
            url,
            additional_headers=headers,
            open_timeout=timeout,
            close_timeout=2.0,
            max_size=None,
            compression=None,
            logger=wire_logger,
            user_agent_header="beluga-voice",
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        raise S2SError(
            "connect",
            code_from_http_status(status),
            f"{provider}: handshake rejected with HTTP {status}",
            details={"status": status},
        ) from None
    except InvalidURI:
        raise S2SError("connect", ErrorCode.INVALID_CONFIG, f"{provider}: bad URL") from None
    except InvalidHandshake as exc:
        raise S2SError(
            "connect", ErrorCode.NETWORK_ERROR, f"{provider}: handshake failed: {exc}"
        ) from None
    except TimeoutError:
        raise S2SError(
            "connect", ErrorCode.TIMEOUT, f"{provider}: no handshake within {timeout:g} s"
        ) from None
    except OSError as exc:
        raise S2SError(
            "connect", ErrorCode.NETWORK_ERROR, f"{provider}: {redact(str(exc))}"
        ) from None
