"""Checking the fake's traffic against the official SDK's schemas.

A fake written to match a client can share the client's misunderstandings.  So every
client event the fake receives is validated against ``openai``'s own
``RealtimeClientEvent`` union, and every event the fake sends against
``RealtimeServerEvent``: the fake records violations instead of trusting either side.

Grok's client events are checked against models written from xAI's Voice Agent event
reference (the tables behind docs.x.ai's Voice Agent pages, read 2026-11-28), field by
field: its ``session`` (voice, instructions and turn detection at the top, no ``type``,
function tools nested under ``function``), its message content types, ``force_message``.  The ``openai`` package is a test dependency:
without it, validation is skipped and :data:`SDK_AVAILABLE` is false.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

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


# -- xAI's Voice Agent event reference (docs.x.ai, read 2026-11-28), client side ----------

_GrokRate = Literal[8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000]


class _GrokFormat(_Strict):
    type: Literal["audio/pcm", "audio/pcmu", "audio/pcma", "audio/opus"]
    rate: _GrokRate | None = None


class _GrokTranscription(_Strict):
    model: str | None = None  # named by the reference's transcription.updated event
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
    type: Literal["server_vad"] | None = None
    threshold: float | None = None
    silence_duration_ms: float | None = None
    prefix_padding_ms: float | None = None
    idle_timeout_ms: float | None = None


class _GrokFunction(_Strict):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class _GrokTool(BaseModel):
    """A tool: ``function`` tools nest their definition; the hosted tools (search, MCP)
    carry options this fake does not use, so they are let through as the service takes
    them."""

    model_config = ConfigDict(extra="allow")
    type: Literal["function", "web_search", "x_search", "file_search", "mcp"]
    function: _GrokFunction | None = None


class _GrokReasoning(_Strict):
    effort: Literal["high", "none"] | None = None


class _GrokResumption(_Strict):
    enabled: bool | None = None


class GrokSession(_Strict):
    """The ``session`` of a Grok ``session.update``."""

    model: str | None = None
    instructions: str | None = None
    reasoning: _GrokReasoning | None = None
    voice: str | None = None
    turn_detection: _GrokTurnDetection | None = None
    resumption: _GrokResumption | None = None
    audio: _GrokAudio | None = None
    tools: list[_GrokTool] | None = None
    replace: dict[str, str] | None = None


class _GrokEvent(_Strict):
    # Client events carry no documented id, but the error object names "the client event
    # that caused the error": the OpenAI-style ``event_id`` is how a client gives one.
    event_id: str | None = None


class _GrokContent(_Strict):
    type: Literal["input_text", "input_audio", "text", "audio"]
    text: str | None = None
    audio: str | None = None
    transcript: str | None = None


class _GrokMessage(_Strict):
    type: Literal["message"]
    role: Literal["user", "assistant", "system"]
    id: str | None = None
    content: list[_GrokContent]


class _GrokFunctionCall(_Strict):
    type: Literal["function_call"]
    name: str
    arguments: str
    call_id: str | None = None
    id: str | None = None


class _GrokFunctionOutput(_Strict):
    type: Literal["function_call_output"]
    call_id: str
    output: str
    id: str | None = None


class _GrokForceContent(_Strict):
    type: Literal["output_text"]
    text: str


class _GrokForceMessage(_Strict):
    type: Literal["force_message"]
    role: Literal["assistant"]
    content: list[_GrokForceContent] = Field(min_length=1, max_length=1)
    interruptible: bool | None = None


class _GrokResponse(_Strict):
    modalities: list[Literal["text", "audio"]] | None = None
    instructions: str | None = None
    metadata: dict[str, Any] | None = None


class _SessionUpdate(_GrokEvent):
    type: Literal["session.update"]
    session: GrokSession


class _Append(_GrokEvent):
    type: Literal["input_audio_buffer.append"]
    audio: str


class _Commit(_GrokEvent):
    type: Literal["input_audio_buffer.commit"]


class _Clear(_GrokEvent):
    type: Literal["input_audio_buffer.clear"]


class _ItemCreate(_GrokEvent):
    type: Literal["conversation.item.create"]
    previous_item_id: str | None = None
    item: _GrokMessage | _GrokFunctionCall | _GrokFunctionOutput | _GrokForceMessage = Field(
        discriminator="type"
    )


class _ItemDelete(_GrokEvent):
    type: Literal["conversation.item.delete"]
    item_id: str


class _ItemTruncate(_GrokEvent):
    type: Literal["conversation.item.truncate"]
    item_id: str
    content_index: int
    audio_end_ms: int


class _ResponseCreate(_GrokEvent):
    type: Literal["response.create"]
    response: _GrokResponse | None = None


class _ResponseCancel(_GrokEvent):
    type: Literal["response.cancel"]
    response_id: str | None = None


_GrokClientEvent = Annotated[
    _SessionUpdate
    | _Append
    | _Commit
    | _Clear
    | _ItemCreate
    | _ItemDelete
    | _ItemTruncate
    | _ResponseCreate
    | _ResponseCancel,
    Field(discriminator="type"),
]
_grok_client: TypeAdapter[Any] = TypeAdapter(_GrokClientEvent)

# Server events of xAI's reference that the OpenAI union does not describe (or describes
# without xAI's extensions, such as the transcript on ``conversation.item.truncated``).
_GROK_ONLY = frozenset(
    {
        "session.created",
        "session.updated",
        "conversation.created",
        "conversation.item.truncated",
        "conversation.item.input_audio_transcription.updated",
        "response.created",
        "response.done",
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
    if flavour == "grok":
        try:
            _grok_client.validate_python(event)
        except ValidationError as exc:
            return f"{event.get('type')}: {_errors(exc)}"
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
