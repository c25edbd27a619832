"""S2S errors: one exception type with a machine-readable code.

Every failure a provider can meet is an :class:`S2SError` whose ``code`` is one of
:class:`ErrorCode`.  Wrappers (retry, fallback) decide what to do from the code alone,
through :attr:`S2SError.is_retryable`, so that they never parse messages.

Messages must never carry secrets: :func:`redact` scrubs anything that looks like a key
before a message is stored, and ``details`` is never rendered in ``str()``.
"""

from __future__ import annotations

import enum
import re
from typing import Any

__all__ = [
    "RETRYABLE_CODES",
    "ErrorCode",
    "S2SError",
    "code_from_http_status",
    "code_from_ws_close",
    "redact",
    "register_secret",
]


class ErrorCode(enum.StrEnum):
    INVALID_CONFIG = "invalid_config"
    NETWORK_ERROR = "network_error"
    TIMEOUT = "timeout"
    RATE_LIMIT = "rate_limit"
    QUOTA_EXCEEDED = "quota_exceeded"
    AUTHENTICATION_ERROR = "authentication_error"
    AUTHORIZATION_ERROR = "authorization_error"
    NOT_FOUND = "not_found"
    INTERNAL_ERROR = "internal_error"
    INVALID_INPUT = "invalid_input"
    UNSUPPORTED_PROVIDER = "unsupported_provider"
    UNSUPPORTED_OPERATION = "unsupported_operation"
    INVALID_MODEL = "invalid_model"
    MODEL_NOT_AVAILABLE = "model_not_available"
    INVALID_REQUEST = "invalid_request"
    INVALID_RESPONSE = "invalid_response"
    EMPTY_RESPONSE = "empty_response"
    MALFORMED_RESPONSE = "malformed_response"
    STREAM_ERROR = "stream_error"
    STREAM_TIMEOUT = "stream_timeout"
    STREAM_CLOSED = "stream_closed"
    CONTEXT_CANCELED = "context_canceled"
    CONTEXT_TIMEOUT = "context_timeout"
    INVALID_AUDIO_FORMAT = "invalid_audio_format"
    INVALID_AUDIO_QUALITY = "invalid_audio_quality"
    REPLY_CUT = "reply_cut"
    """A failure cut a reply the user had already heard much of; it is not answered again."""


RETRYABLE_CODES: frozenset[ErrorCode] = frozenset(
    {
        ErrorCode.NETWORK_ERROR,
        ErrorCode.TIMEOUT,
        ErrorCode.RATE_LIMIT,
        ErrorCode.INTERNAL_ERROR,
        ErrorCode.MODEL_NOT_AVAILABLE,
        ErrorCode.STREAM_ERROR,
        ErrorCode.STREAM_TIMEOUT,
        ErrorCode.STREAM_CLOSED,
        ErrorCode.EMPTY_RESPONSE,
    }
)

# Things that look like credentials: provider API keys, AWS access keys, bearer tokens,
# and explicit key=value pairs.  ``name: value`` (prose as much as a header) hides only a
# value that looks like a credential (8+ characters with a digit): "api_key: openai_realtime
# needs a key" names a provider, and registered secrets are removed verbatim anyway.
_SECRET_PATTERNS = [
    re.compile(r"\b(?:sk|xai|pk|rk)-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"\bya29\.[0-9A-Za-z_\-.]{8,}"),  # Google OAuth access tokens
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{12,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{8,}"),
    re.compile(
        r"(?i)((?:api[_-]?key|secret|token|password|authorization|signature)\s*=\s*)[^\s&,;]+"
    ),
    re.compile(
        r"(?i)((?:api[_-]?key|secret|token|password|authorization|signature)\s*:\s*)"
        r"(?=[^\s&,;]*\d)[^\s&,;]{8,}"
    ),
]
_extra_secrets: set[str] = set()
_short_secrets: dict[str, re.Pattern[str]] = {}


def register_secret(value: str | None) -> None:
    """Remember a secret so that :func:`redact` removes it wherever it appears.

    Any length is remembered: a configured token is a secret however short.  One of fewer
    than eight characters is removed only where it stands alone (not inside a longer word
    or number), so that scrubbing it cannot mangle ordinary text.
    """
    if not value or not value.strip():
        return
    if len(value) >= 8:
        _extra_secrets.add(value)
    elif value not in _short_secrets:
        _short_secrets[value] = re.compile(rf"(?<![\w]){re.escape(value)}(?![\w])")


def redact(text: str) -> str:
    """Return ``text`` with anything that looks like a credential replaced by ``***``."""
    for secret in _extra_secrets:
        if secret in text:
            text = text.replace(secret, "***")
    for secret, alone in _short_secrets.items():
        if secret in text:
            text = alone.sub("***", text)
    for pattern in _SECRET_PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: (m.group(1) if m.lastindex else "") + "***", text)
        else:
            text = pattern.sub("***", text)
    return text


class S2SError(Exception):
    """A speech-to-speech failure.

    ``op`` names the operation that failed (``"connect"``, ``"send_audio"``...), ``code``
    classifies it, ``cause`` is the underlying exception if any and ``details`` holds
    structured extras (provider error codes, HTTP status).  The message is redacted.
    """

    def __init__(
        self,
        op: str,
        code: ErrorCode | str,
        message: str = "",
        *,
        cause: BaseException | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.op = op
        self.code = ErrorCode(code)
        self.message = redact(message)
        self.cause = cause
        self.details = details or {}
        super().__init__(self.__str__())
        if cause is not None:
            self.__cause__ = cause

    def __str__(self) -> str:
        text = f"{self.op}: {self.code.value}"
        if self.message:
            text += f": {self.message}"
        return text

    def __repr__(self) -> str:
        return f"S2SError(op={self.op!r}, code={self.code.value!r}, message={self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.op, self.code.value, self.message, self.details))

    @property
    def is_retryable(self) -> bool:
        """True when trying again (after a pause) can reasonably succeed."""
        return self.code in RETRYABLE_CODES


def _rebuild(op: str, code: str, message: str, details: dict[str, Any]) -> S2SError:
    return S2SError(op, code, message, details=details)


def code_from_http_status(status: int) -> ErrorCode:
    """Map an HTTP status (from a failed handshake or a REST call) to an error code."""
    if status in (400, 422):
        return ErrorCode.INVALID_REQUEST
    if status == 401:
        return ErrorCode.AUTHENTICATION_ERROR
    if status == 403:
        return ErrorCode.AUTHORIZATION_ERROR
    if status == 404:
        return ErrorCode.NOT_FOUND
    if status == 408:
        return ErrorCode.TIMEOUT
    if status == 413:
        return ErrorCode.INVALID_INPUT
    if status == 429:
        return ErrorCode.RATE_LIMIT
    if status == 402:
        return ErrorCode.QUOTA_EXCEEDED
    if status in (502, 503):
        return ErrorCode.MODEL_NOT_AVAILABLE
    if status == 504:
        return ErrorCode.TIMEOUT
    if status >= 500:
        return ErrorCode.INTERNAL_ERROR
    return ErrorCode.INVALID_RESPONSE


def code_from_ws_close(code: int | None) -> ErrorCode:
    """Map a WebSocket close code (RFC 6455 and common private codes) to an error code."""
    if code is None or code == 1006:
        return ErrorCode.NETWORK_ERROR
    if code in (1000, 1001):
        return ErrorCode.STREAM_CLOSED
    if code in (1002, 1003, 1007, 1009, 1010):
        return ErrorCode.INVALID_REQUEST
    if code == 1008:
        return ErrorCode.AUTHORIZATION_ERROR
    if code == 1011:
        return ErrorCode.INTERNAL_ERROR
    if code in (1012, 1013):
        return ErrorCode.MODEL_NOT_AVAILABLE
    if code == 1014:
        return ErrorCode.NETWORK_ERROR
    if code == 4001 or code == 4401:
        return ErrorCode.AUTHENTICATION_ERROR
    if code == 4003 or code == 4403:
        return ErrorCode.AUTHORIZATION_ERROR
    if code == 4029 or code == 4429:
        return ErrorCode.RATE_LIMIT
    return ErrorCode.STREAM_ERROR
