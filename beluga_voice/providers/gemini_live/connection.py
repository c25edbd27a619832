"""The BidiGenerateContent WebSocket on the shared, redacting opener.

The API key travels in the ``x-goog-api-key`` header (a Vertex AI token in
``Authorization: Bearer``), never in the URL, so it cannot end up in a proxy's access log.
"""

from __future__ import annotations

import json
import re
import ssl

from websockets.asyncio.client import ClientConnection

from ..errors import ErrorCode, S2SError
from ..websocket import open_websocket as _open
from ..websocket import redacting_logger
from . import wire

__all__ = ["auth_headers", "credential_error", "open_websocket", "wire_logger"]

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
    vertexai: bool = False,
    ssl_context: ssl.SSLContext | None = None,
) -> ClientConnection:
    """Connect; any failure is an :class:`S2SError` that names no secret."""
    try:
        return await _open(
            url,
            headers,
            timeout=timeout,
            provider="gemini",
            logger=wire_logger,
            ssl_context=ssl_context,
        )
    except S2SError as exc:
        raise credential_error(exc, vertexai=vertexai) or exc from None


_PERMISSION = re.compile(
    r"(?i)permission '[^']+' denied|has not been used in project|service_disabled|"
    r"billing|not have permission"
)


def credential_error(exc: S2SError, *, vertexai: bool) -> S2SError | None:
    """A handshake refused for its credential, said so with the credential to check.

    The Developer API answers a missing or wrong key with 403 (not 401), so a 403 is a
    rejected credential unless the service says it is about permissions (an API that is
    not enabled, an IAM role that is missing); the service's own message is kept.
    """
    status = exc.details.get("status")
    if status not in (401, 403):
        return None
    said = _service_message(str(exc.details.get("body") or ""))
    if status == 403 and _PERMISSION.search(said):
        code = ErrorCode.AUTHORIZATION_ERROR
        check = "the project's permissions for this API"
    else:
        code = ErrorCode.AUTHENTICATION_ERROR
        check = wire.credentials_to_check(vertexai=vertexai)
    text = f"gemini: credential rejected (HTTP {status}); check {check}"
    if said:
        text += f". The service said: {said}"
    return S2SError("connect", code, text, details=exc.details)


def _service_message(body: str) -> str:
    """The ``error.message`` of Google's JSON error body, else the body's first line."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return body.strip().splitlines()[0][:300] if body.strip() else ""
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return str(message)[:300] if message else body.strip()[:300]
