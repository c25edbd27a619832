"""Opening a service's WebSocket: errors mapped to :class:`S2SError`, logs redacted.

Shared by every WebSocket client: the S2S providers (OpenAI Realtime, Grok, Gemini Live)
and the cascade's streaming STT and TTS services, which is why it lives on the ground floor.  ``websockets``
logs handshake headers at debug level, and those headers carry API keys; each provider's
connection therefore logs through a logger whose :class:`RedactFilter` scrubs every record
with :func:`~beluga_voice.secrets.redact` before any handler sees it.
"""

from __future__ import annotations

import json
import logging
import ssl

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

from .errors import ErrorCode, S2SError, code_from_http_status
from .secrets import redact
from .tls import client_context

__all__ = ["RedactFilter", "open_websocket", "redacting_logger"]


class RedactFilter(logging.Filter):
    """Rewrites each record's message with secrets removed (and drops its args)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


def redacting_logger(name: str) -> logging.Logger:
    """The logger ``name`` with a :class:`RedactFilter` attached (once)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactFilter) for f in logger.filters):
        logger.addFilter(RedactFilter())
    return logger


async def open_websocket(
    url: str,
    headers: dict[str, str],
    *,
    timeout: float,
    provider: str,
    logger: logging.Logger,
    ssl_context: ssl.SSLContext | None = None,
) -> ClientConnection:
    """Connect to ``url``; any failure is an :class:`S2SError` that names no secret."""
    try:
        return await connect(
            url,
            additional_headers=headers,
            open_timeout=timeout,
            close_timeout=2.0,
            max_size=None,
            compression=None,
            logger=logger,
            user_agent_header="beluga-voice",
            ssl=(ssl_context or client_context()) if url.startswith("wss://") else None,
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        answer = exc.response.headers
        raw = bytes(exc.response.body or b"")
        # The service's own words (redacted, bounded): in the message, and whole in details
        # for providers that read more from them.  Deepgram also repeats its error body in
        # a ``dg-error`` header and names the request in ``dg-request-id`` (for support).
        body = redact(raw[:2000].decode("utf-8", "replace"))
        said = _body_message(raw) or _body_message(answer.get("dg-error", "").encode())
        text = f"{provider}: handshake rejected with HTTP {status}" + (f": {said}" if said else "")
        details: dict[str, object] = {"status": status, "body": body}
        request_id = answer.get("dg-request-id")
        if request_id:
            details["request_id"] = redact(request_id[:100])
        raise S2SError("connect", code_from_http_status(status), text, details=details) from None
    except InvalidURI:
        raise S2SError("connect", ErrorCode.INVALID_CONFIG, f"{provider}: bad URL") from None
    except InvalidHandshake as exc:
        raise S2SError(
            "connect", ErrorCode.NETWORK_ERROR, f"{provider}: handshake failed: {redact(str(exc))}"
        ) from None
    except TimeoutError:
        raise S2SError(
            "connect", ErrorCode.TIMEOUT, f"{provider}: no handshake within {timeout:g} s"
        ) from None
    except OSError as exc:
        raise S2SError(
            "connect", ErrorCode.NETWORK_ERROR, f"{provider}: {redact(str(exc))}"
        ) from None


def _body_message(body: bytes | bytearray | None) -> str:
    """The service's own words from a refused handshake's body (redacted, bounded).

    OpenAI answers ``{"error": {"message": ...}}``, Azure the same with a string ``code``,
    xAI ``{"error": "..."}``, ElevenLabs ``{"detail": {"message"}}``, Deepgram ``{"err_code",
    "err_msg"}``; anything else is shown as text.
    """
    if not body:
        return ""
    text = body[:2000].decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return redact(" ".join(text.split())[:300])
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        error = error.get("message")
    if not isinstance(error, str) and isinstance(data, dict):
        error = data.get("message")
    if not isinstance(error, str) and isinstance(data, dict):
        detail = data.get("detail")  # ElevenLabs: {"detail": {"status", "message"}}
        error = detail.get("message") if isinstance(detail, dict) else detail
    if not isinstance(error, str) and isinstance(data, dict):
        error = data.get("err_msg")  # Deepgram: {"err_code", "err_msg", "request_id"}
    return redact(" ".join(error.split())[:300]) if isinstance(error, str) else ""
