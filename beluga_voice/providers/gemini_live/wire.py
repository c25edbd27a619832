"""The JSON on the wire: decoding server messages, encoding client messages, close reasons.

Everything here is pure: bytes or text in, Python values out.  Server input is untrusted,
so every shape check fails with an :class:`S2SError` ``malformed_response`` that says what
was wrong, never with a ``KeyError`` or ``TypeError`` from deep inside the session.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from ..errors import ErrorCode, S2SError, code_from_http_status, code_from_ws_close
from ..events import Usage

__all__ = [
    "INPUT_MIME",
    "audio_message",
    "audio_rate",
    "b64decode",
    "code_from_gemini_close",
    "dumps",
    "malformed",
    "parse_server_message",
    "text_turn_message",
    "tool_response_message",
]

INPUT_MIME = "audio/pcm;rate=16000"
_URLSAFE = str.maketrans("-_", "+/")
_RATE = re.compile(r"rate=(\d{3,6})")
# Messages that can appear at the top level of a server message.
SERVER_FIELDS = frozenset(
    {
        "setupComplete",
        "serverContent",
        "toolCall",
        "toolCallCancellation",
        "goAway",
        "sessionResumptionUpdate",
        "usageMetadata",
        "voiceActivity",
        "voiceActivityDetectionSignal",
        "error",
    }
)


def malformed(message: str) -> S2SError:
    return S2SError("receive", ErrorCode.MALFORMED_RESPONSE, f"gemini: {message}")


def parse_server_message(data: str | bytes) -> dict[str, Any]:
    """Decode one server message (JSON in a text *or* binary frame) into a dict."""
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise malformed(f"binary frame is not UTF-8 JSON ({exc.reason})") from None
    try:
        message = json.loads(data)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise malformed(f"server message is not JSON: {exc}"[:200]) from None
    if not isinstance(message, dict):
        raise malformed(f"server message is a JSON {type(message).__name__}, not an object")
    return message


def obj(parent: dict[str, Any], key: str) -> dict[str, Any] | None:
    """``parent[key]`` if present: it must then be a JSON object."""
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise malformed(f"{key} must be an object, got {type(value).__name__}")
    return value


def string(parent: dict[str, Any], key: str, default: str = "") -> str:
    value = parent.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise malformed(f"{key} must be a string, got {type(value).__name__}")
    return value


def integer(parent: dict[str, Any], key: str) -> int:
    value = parent.get(key, 0)
    if value is None:
        return 0
    if isinstance(value, str) and value.isdigit():
        return int(value)  # proto3 JSON writes int64 as a string
    if not isinstance(value, int) or isinstance(value, bool):
        raise malformed(f"{key} must be an integer, got {type(value).__name__}")
    return value


_DURATION = re.compile(r"^(\d{1,9})(\.\d{1,9})?s$")


def duration_s(parent: dict[str, Any], key: str) -> float | None:
    """A proto3 JSON ``Duration`` (``"4.5s"``) in seconds; ``None`` when absent."""
    value = parent.get(key)
    if value is None:
        return None
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise malformed(f"{key} must be a duration like '5s', got {value!r}"[:120])
    return float(value[:-1])


def flag(parent: dict[str, Any], key: str) -> bool:
    value = parent.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise malformed(f"{key} must be a boolean, got {type(value).__name__}")
    return value


def array(parent: dict[str, Any], key: str) -> list[Any]:
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise malformed(f"{key} must be an array, got {type(value).__name__}")
    return value


def b64decode(text: str, what: str) -> bytes:
    """Strict base64 (standard or URL-safe alphabet, as proto3 JSON allows)."""
    try:
        return base64.b64decode(text.translate(_URLSAFE), validate=True)
    except (binascii.Error, ValueError):
        raise malformed(f"{what} is not valid base64") from None


def audio_rate(mime_type: str, default: int = 24000) -> int:
    """The sample rate declared in ``audio/pcm;rate=N`` (the default when absent)."""
    if mime_type and not mime_type.startswith(("audio/pcm", "audio/l16")):
        raise malformed(f"unexpected audio type {mime_type!r}")
    match = _RATE.search(mime_type)
    rate = int(match.group(1)) if match else default
    if not 8000 <= rate <= 96000:
        raise malformed(f"implausible audio rate {rate}")
    return rate


def dumps(message: dict[str, Any]) -> str:
    """Compact JSON, as the wire wants it."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def audio_message(pcm: bytes, mime: str = INPUT_MIME) -> dict[str, Any]:
    data = base64.b64encode(pcm).decode("ascii")
    return {"realtimeInput": {"audio": {"mimeType": mime, "data": data}}}


def text_turn_message(text: str) -> dict[str, Any]:
    """A complete user turn of text (``clientContent``): the model answers it."""
    return {
        "clientContent": {
            "turns": [{"role": "user", "parts": [{"text": text}]}],
            "turnComplete": True,
        }
    }


def tool_response_message(call_id: str, name: str, output: str) -> dict[str, Any]:
    """``toolResponse`` for one call; a JSON-object output is passed as is, anything else
    is wrapped as ``{"output": ...}`` because the API wants an object."""
    try:
        parsed = json.loads(output)
    except (json.JSONDecodeError, RecursionError):
        parsed = None
    response = parsed if isinstance(parsed, dict) else {"output": output}
    return {
        "toolResponse": {"functionResponses": [{"id": call_id, "name": name, "response": response}]}
    }


# Google's close reasons carry the gRPC status in words; these decide the error code where
# the RFC 6455 code alone (1007, 1008, 1011 for most things) is too coarse.
_REASONS: tuple[tuple[re.Pattern[str], ErrorCode], ...] = (
    (
        re.compile(r"(?i)api key|unregistered callers|unauthenticated|credential"),
        ErrorCode.AUTHENTICATION_ERROR,
    ),
    (re.compile(r"(?i)permission|forbidden|not allowed"), ErrorCode.AUTHORIZATION_ERROR),
    (re.compile(r"(?i)quota|billing"), ErrorCode.QUOTA_EXCEEDED),
    (re.compile(r"(?i)rate limit|resource.?exhausted|too many"), ErrorCode.RATE_LIMIT),
    (
        re.compile(r"(?i)models?/\S+ (is )?not (found|supported)|unknown model|not found for api"),
        ErrorCode.INVALID_MODEL,
    ),
    # gRPC UNIMPLEMENTED: the setup asks for something this model or API version lacks.
    (
        re.compile(r"(?i)not implemented, or supported, or enabled|unimplemented"),
        ErrorCode.INVALID_CONFIG,
    ),
    (re.compile(r"(?i)deadline|timed? ?out"), ErrorCode.TIMEOUT),
    (re.compile(r"(?i)unavailable|overloaded"), ErrorCode.MODEL_NOT_AVAILABLE),
    (
        re.compile(r"(?i)invalid argument|invalid json|invalid payload|cannot find field"),
        ErrorCode.INVALID_REQUEST,
    ),
    (re.compile(r"(?i)internal error"), ErrorCode.INTERNAL_ERROR),
)


def code_from_gemini_close(code: int | None, reason: str = "") -> ErrorCode:
    """Map a close frame (code and reason text) from the Live API to an error code."""
    if code not in (1000, 1001):
        for pattern, mapped in _REASONS:
            if pattern.search(reason):
                return mapped
    return code_from_ws_close(code)


def error_from_message(error: dict[str, Any]) -> S2SError:
    """An in-band ``{"error": {"code", "message", "status"}}`` message as an S2SError."""
    status = error.get("code")
    message = str(error.get("message") or error.get("status") or "error")[:300]
    code = code_from_http_status(status) if isinstance(status, int) and status >= 400 else None
    if code is None or code in (ErrorCode.INVALID_RESPONSE,):
        code = code_from_gemini_close(None, message)
        if code is ErrorCode.NETWORK_ERROR:
            code = ErrorCode.STREAM_ERROR
    return S2SError("receive", code, f"gemini: {message}", details={"status": status})


def credentials_to_check(*, vertexai: bool) -> str:
    """Where the credential the service refused came from, for the error message."""
    if vertexai:
        return (
            "the Vertex AI credentials: the service account or application default "
            "credentials (GOOGLE_APPLICATION_CREDENTIALS, or gcloud auth "
            "application-default login), or the access token in config.api_key"
        )
    return "config.api_key, or GEMINI_API_KEY / GOOGLE_API_KEY"


def usage_event(usage: dict[str, Any]) -> Usage:
    """``usageMetadata`` as a :class:`Usage` event (Vertex AI says ``candidatesTokenCount``
    for the reply)."""
    prompt = integer(usage, "promptTokenCount")
    response = integer(usage, "responseTokenCount") or integer(usage, "candidatesTokenCount")
    total = integer(usage, "totalTokenCount") or prompt + response
    return Usage(prompt, response, total, details=dict(usage))


def close_text(code: int | None, reason: str) -> str:
    return f"gemini closed the connection ({code}{': ' + reason[:200] if reason else ''})"
