"""Bedrock's failures, as S2S error codes.

Bedrock reports a failure in one of two ways: before the stream starts, as an HTTP error
status with an ``x-amzn-errortype`` header and a JSON ``{"message"}`` body; once it runs, as
an event-stream message with ``:message-type=exception`` and ``:exception-type``.  The type
names are the ``InvokeModelWithBidirectionalStream`` errors of botocore's bedrock-runtime
service model (lower camel case inside the stream), plus the signing errors every AWS
service shares.  Retry and fallback wrappers decide from the code alone.
"""

from __future__ import annotations

import json

from ..errors import ErrorCode, S2SError, code_from_http_status

__all__ = ["exception_error", "status_error"]

_CODES: dict[str, ErrorCode] = {
    "validationException": ErrorCode.INVALID_REQUEST,
    "throttlingException": ErrorCode.RATE_LIMIT,
    "serviceQuotaExceededException": ErrorCode.QUOTA_EXCEEDED,
    "modelTimeoutException": ErrorCode.TIMEOUT,
    "internalServerException": ErrorCode.INTERNAL_ERROR,
    "modelErrorException": ErrorCode.INTERNAL_ERROR,
    "serviceUnavailableException": ErrorCode.MODEL_NOT_AVAILABLE,
    "modelNotReadyException": ErrorCode.MODEL_NOT_AVAILABLE,
    "modelStreamErrorException": ErrorCode.STREAM_ERROR,
    "accessDeniedException": ErrorCode.AUTHORIZATION_ERROR,
    "resourceNotFoundException": ErrorCode.NOT_FOUND,
    "invalidSignatureException": ErrorCode.AUTHENTICATION_ERROR,
    "incompleteSignatureException": ErrorCode.AUTHENTICATION_ERROR,
    "unrecognizedClientException": ErrorCode.AUTHENTICATION_ERROR,
    "expiredTokenException": ErrorCode.AUTHENTICATION_ERROR,
    "missingAuthenticationTokenException": ErrorCode.AUTHENTICATION_ERROR,
}


def _code(type_name: str) -> ErrorCode | None:
    name = type_name.split(":", 1)[0].strip()
    return _CODES.get(name[:1].lower() + name[1:])


def _message(payload: bytes) -> str:
    try:
        data = json.loads(payload)
    except ValueError:
        return payload[:200].decode("utf-8", "replace")
    if isinstance(data, dict):
        return str(data.get("message") or data.get("Message") or "")
    return ""


def exception_error(exception_type: str, payload: bytes) -> S2SError:
    """Map an in-stream ``:message-type=exception`` message."""
    message = _message(payload)
    return S2SError(
        "receive",
        _code(exception_type) or ErrorCode.STREAM_ERROR,
        f"{exception_type}: {message}" if message else exception_type,
        details={"exception_type": exception_type},
    )


def status_error(op: str, status: int, error_type: str, body: bytes) -> S2SError:
    """Map a refused request (HTTP status, ``x-amzn-errortype``, JSON body)."""
    kind = error_type.split(":", 1)[0].strip()
    code = _code(kind) or code_from_http_status(status)
    message = _message(body) if body else ""
    text = f"HTTP {status}" + (f" {kind}" if kind else "") + (f": {message}" if message else "")
    return S2SError(op, code, text, details={"status": status, "error_type": kind})
