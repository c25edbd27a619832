"""Errors: one exception type with a machine-readable code, shared by every room.

It lives on the ground floor because agents, STT and TTS engines, transports and
observability all raise or read it, and none of them may import the providers package.
Every failure a provider or engine can meet is an :class:`S2SError` whose ``code`` is one of
:class:`ErrorCode`.  Wrappers (retry, fallback) decide what to do from the code alone,
through :attr:`S2SError.is_retryable`, so that they never parse messages.

Messages must never carry secrets: :func:`redact` scrubs anything that looks like a key
before a message is stored, and ``details`` is never rendered in ``str()``.
"""

from __future__ import annotations

import enum
from typing import Any

from .secrets import redact as _redact

__all__ = [
    "RETRYABLE_CODES",
    "ErrorCode",
    "S2SError",
    "code_from_http_status",
    "code_from_ws_close",
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
        self.message = _redact(message)
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
