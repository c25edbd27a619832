"""Schema checks of the fake Gemini Live server, against the official ``google-genai`` types.

The fake judges what clients send by the SDK's pydantic models (``extra="forbid"``, so an
unknown or misspelt camelCase field is a violation), plus the rules the models cannot say:
one kind of message per frame, the setup first and only once, strict base64, a declared
PCM rate, activity signals only when automatic detection is off.

One gap in the SDK's schema is bridged on purpose: the SDK's own converters send
``setup.realtimeInputConfig`` (the field the service reads), but ``LiveClientSetup`` does
not declare it.  The fake therefore checks that one field against ``RealtimeInputConfig``
on its own and the rest of the setup against ``LiveClientMessage``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from google.genai import types
from pydantic import ValidationError

__all__ = ["ClientMessageError", "check_client_message", "check_server_message"]

_CLIENT_KINDS = ("setup", "clientContent", "realtimeInput", "toolResponse")
# proto3 JSON parsers accept a field's original snake_case name as well as its lowerCamel
# JSON name, and the SDK does send ``realtime_input``, ``client_content``, ``tool_response``.
_SNAKE = {"client_content": "clientContent", "realtime_input": "realtimeInput"}
_SNAKE["tool_response"] = "toolResponse"
_URLSAFE = str.maketrans("-_", "+/")
_MIME = re.compile(r"^audio/pcm;rate=(\d{4,6})$")


class ClientMessageError(ValueError):
    """A client message the real service would refuse."""


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def _camel_keys(value: Any) -> Any:
    """One level of snake_case -> lowerCamel (never inside Struct data such as ``args``)."""
    if not isinstance(value, dict):
        return value
    return {_camel(k): v for k, v in value.items()}


def _errors(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'message'}: {e['msg']}" for e in exc.errors()
    )[:500]


def check_client_message(raw: str | bytes) -> tuple[str, dict[str, Any]]:
    """Return ``(kind, body)`` of a valid client message; raise ClientMessageError."""
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ClientMessageError(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ClientMessageError("not a JSON object")
    message = {_SNAKE.get(k, k): v for k, v in message.items()}
    kinds = [k for k in message if k in _CLIENT_KINDS]
    unknown = [k for k in message if k not in _CLIENT_KINDS]
    if unknown:
        raise ClientMessageError(f"unknown top-level field(s) {unknown}")
    if len(kinds) != 1:
        raise ClientMessageError(f"exactly one message kind per frame, got {kinds}")
    kind = kinds[0]
    body = message[kind]
    if not isinstance(body, dict):
        raise ClientMessageError(f"{kind} must be an object")
    if kind != "setup":
        body = _camel_keys(body)
    if kind == "realtimeInput":
        body = {k: _camel_keys(v) if k in ("audio", "video") else v for k, v in body.items()}
    checked: dict[str, Any] = dict(message)
    if kind == "setup" and "realtimeInputConfig" in body:
        rest = dict(body)
        ric = rest.pop("realtimeInputConfig")
        try:
            types.RealtimeInputConfig.model_validate_json(json.dumps(ric))
        except ValidationError as exc:
            raise ClientMessageError(f"setup.realtimeInputConfig: {_errors(exc)}") from None
        checked = {"setup": rest}
    try:
        types.LiveClientMessage.model_validate_json(json.dumps(checked))
    except ValidationError as exc:
        raise ClientMessageError(_errors(exc)) from None
    if kind == "realtimeInput":
        _check_realtime(body)
    return kind, body


def _check_realtime(body: dict[str, Any]) -> None:
    fields = [k for k, v in body.items() if v is not None]
    if len(fields) != 1:
        raise ClientMessageError(f"realtimeInput must carry one thing, got {fields}")
    audio = body.get("audio")
    if audio is not None:
        mime = audio.get("mimeType", "")
        if not _MIME.match(mime):
            raise ClientMessageError(f"audio mimeType {mime!r} is not audio/pcm;rate=N")
        try:
            pcm = _b64(audio.get("data", ""))
        except (binascii.Error, ValueError):
            raise ClientMessageError("audio data is not strict base64") from None
        if len(pcm) % 2:
            raise ClientMessageError("PCM16 audio with an odd byte count")


def _b64(text: str) -> bytes:
    """Strict base64; proto3 JSON allows the URL-safe alphabet too (the SDK uses it)."""
    return base64.b64decode(text.translate(_URLSAFE), validate=True)


def decode_audio(body: dict[str, Any]) -> tuple[bytes, int]:
    """PCM bytes and rate of a checked ``realtimeInput.audio``."""
    audio = body["audio"]
    match = _MIME.match(audio["mimeType"])
    assert match is not None
    return _b64(audio["data"]), int(match.group(1))


def check_server_message(text: str) -> str | None:
    """``None`` if the fake's own message fits ``LiveServerMessage``, else the problem."""
    try:
        types.LiveServerMessage.model_validate_json(text)
    except ValidationError as exc:
        return _errors(exc)
    return None
