"""Checking the fake's traffic against the official SDK's schemas.

A fake written to match a client can share the client's misunderstandings.  So every
client event the fake receives is validated against ``openai``'s own
``RealtimeClientEvent`` union, and every event the fake sends against
``RealtimeServerEvent``: the fake records violations instead of trusting either side.

Grok's ``session`` object has its own shape (voice, instructions and turn detection at
the top, no ``type``), which the OpenAI union rejects; it is checked against a model
written from xAI's documentation instead.  The ``openai`` package is a test dependency:
without it, validation is skipped and :data:`SDK_AVAILABLE` is false.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

__all__ = ["SDK_AVAILABLE", "check_client_event", "check_server_event"]

try:
    from openai.types.realtime import RealtimeClientEvent, RealtimeServerEvent
except ImportError:  # pragma: no cover - the SDK is installed with the test extra
    SDK_AVAILABLE = False
    _client: TypeAdapter[Any] | None = None
    _server: TypeAdapter[Any] | None = None
else:
    SDK_AVAILABLE = True
    _client = TypeAdapter(RealtimeClientEvent)
    _server = TypeAdapter(RealtimeServerEvent)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _GrokFormat(_Strict):
    type: Literal["audio/pcm", "audio/pcmu", "audio/pcma"]
    rate: Literal[8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000] | None = None


class _GrokTranscription(_Strict):
    model: str | None = None
    language_hint: str | None = None
    keyterms: list[str] | None = None


class _GrokAudioIn(_Strict):
    format: _GrokFormat | None = None
    transcription: _GrokTranscription | None = None
    transport: Literal["json", "binary"] | None = None


class _GrokAudioOut(_Strict):
    format: _GrokFormat | None = None
    speed: float | None = None
    transport: Literal["json", "binary"] | None = None


class _GrokAudio(_Strict):
    input: _GrokAudioIn | None = None
    output: _GrokAudioOut | None = None


class _GrokTurnDetection(_Strict):
    type: Literal["server_vad"] | None = "server_vad"
    threshold: float | None = None
    silence_duration_ms: int | None = None
    prefix_padding_ms: int | None = None
    idle_timeout_ms: int | None = None
    create_response: bool | None = None
    interrupt_response: bool | None = None


class _GrokTool(_Strict):
    type: Literal["function", "web_search", "x_search", "file_search", "mcp"]
    name: str | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None


class GrokSession(_Strict):
    """The ``session`` of a Grok ``session.update``."""

    instructions: str | None = None
    voice: str | None = None
    turn_detection: _GrokTurnDetection | None = None
    audio: _GrokAudio | None = None
    tools: list[_GrokTool] | None = None


# Grok's own event shapes, which the OpenAI union does not describe.
_GROK_ONLY = frozenset(
    {
        "session.created",
        "session.updated",
        "ping",
        "conversation.item.input_audio_transcription.updated",
    }
)


def _errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])


def _extras(value: Any, path: str) -> list[str]:
    """Keys that the SDK's models accepted only because they allow extra fields.

    The SDK's models keep unknown keys instead of rejecting them, so a misspelt or
    misplaced field would pass plain validation; this walk finds them.
    """
    found: list[str] = []
    if isinstance(value, BaseModel):
        for key in value.model_extra or {}:
            found.append(f"{path}.{key}".lstrip("."))
        for name in type(value).model_fields:
            found += _extras(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found += _extras(item, f"{path}[{i}]")
    return found


def _validate(adapter: TypeAdapter[Any], event: dict[str, Any]) -> str | None:
    try:
        model = adapter.validate_python(event)
    except ValidationError as exc:
        return f"{event.get('type')}: {_errors(exc)}"
    unknown = [key for key in _extras(model, "") if key != "event_id"]
    if unknown:
        return f"{event.get('type')}: unknown field(s) {', '.join(unknown)}"
    return None


def check_client_event(event: Any, flavour: str) -> str | None:
    """``None`` if ``event`` is a valid client event, else what is wrong with it."""
    if not isinstance(event, dict):
        return "client event is not a JSON object"
    if flavour == "grok" and event.get("type") == "session.update":
        try:
            GrokSession.model_validate(event.get("session"))
        except ValidationError as exc:
            return f"session.update: {_errors(exc)}"
        return None
    if _client is None:
        return None
    return _validate(_client, event)


def check_server_event(event: dict[str, Any], flavour: str) -> str | None:
    """``None`` if the fake's own ``event`` is valid, else what is wrong with it."""
    kind = event.get("type")
    if flavour == "grok" and kind in _GROK_ONLY:
        return None
    if _server is None:
        return None
    return _validate(_server, event)
