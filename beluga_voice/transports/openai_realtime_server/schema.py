"""The client events the server accepts, as strict pydantic models.

Written from the OpenAI Realtime GA reference and the official SDK's
``RealtimeClientEvent`` union (the tests check that every event accepted here is also a
valid SDK event).  The models forbid unknown fields: a misspelt key is answered with an
``error`` event naming it, instead of being silently ignored.  Fields the SDK knows and
this server cannot honour are left out on purpose, so they are refused the same way.

The ``openai`` package is not needed at run time: these models are the server's own.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

__all__ = [
    "UNSUPPORTED_EVENTS",
    "AudioFormat",
    "ClientEvent",
    "ConversationItemCreate",
    "ConversationItemDelete",
    "ConversationItemRetrieve",
    "ConversationItemTruncate",
    "InputAudioBufferAppend",
    "InputAudioBufferClear",
    "InputAudioBufferCommit",
    "ResponseCancel",
    "ResponseCreate",
    "SessionConfig",
    "SessionUpdate",
    "TurnDetection",
    "parse_client_event",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PcmFormat(_Strict):
    type: Literal["audio/pcm"]
    rate: Literal[24000] = 24000


class G711Format(_Strict):
    type: Literal["audio/pcmu", "audio/pcma"]


AudioFormat = Annotated[PcmFormat | G711Format, Field(discriminator="type")]


class ServerVad(_Strict):
    type: Literal["server_vad"]
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    prefix_padding_ms: int | None = Field(default=None, ge=0)
    silence_duration_ms: int | None = Field(default=None, ge=0)
    create_response: bool | None = None
    interrupt_response: bool | None = None


class SemanticVad(_Strict):
    type: Literal["semantic_vad"]
    eagerness: Literal["low", "medium", "high", "auto"] | None = None
    create_response: bool | None = None
    interrupt_response: bool | None = None


TurnDetection = Annotated[ServerVad | SemanticVad, Field(discriminator="type")]


class Transcription(_Strict):
    model: str | None = None
    language: str | None = None
    prompt: str | None = None


class NoiseReduction(_Strict):
    type: Literal["near_field", "far_field"] | None = None


class AudioInput(_Strict):
    format: AudioFormat | None = None
    transcription: Transcription | None = None
    noise_reduction: NoiseReduction | None = None
    turn_detection: TurnDetection | None = None


class AudioOutput(_Strict):
    format: AudioFormat | None = None
    voice: str | None = None
    speed: float | None = Field(default=None, ge=0.25, le=1.5)


class Audio(_Strict):
    input: AudioInput | None = None
    output: AudioOutput | None = None


class FunctionTool(_Strict):
    type: Literal["function"] = "function"
    name: str = Field(min_length=1, max_length=64)
    description: str | None = None
    parameters: dict[str, Any] | None = None


class ToolChoiceFunction(_Strict):
    type: Literal["function"]
    name: str


class SessionConfig(_Strict):
    """``session`` of ``session.update``: the realtime session type only."""

    type: Literal["realtime"]
    model: str | None = None
    instructions: str | None = None
    output_modalities: list[Literal["audio"]] | None = None
    audio: Audio | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: Literal["auto", "none", "required"] | ToolChoiceFunction | None = None
    max_output_tokens: int | Literal["inf"] | None = None
    tracing: Literal["auto"] | None = None


class _Event(_Strict):
    event_id: str | None = None


class SessionUpdate(_Event):
    type: Literal["session.update"]
    session: SessionConfig


class InputAudioBufferAppend(_Event):
    type: Literal["input_audio_buffer.append"]
    audio: str


class InputAudioBufferCommit(_Event):
    type: Literal["input_audio_buffer.commit"]


class InputAudioBufferClear(_Event):
    type: Literal["input_audio_buffer.clear"]


class InputText(_Strict):
    type: Literal["input_text"]
    text: str


class OutputText(_Strict):
    type: Literal["output_text"]
    text: str


class _Item(_Strict):
    id: str | None = None
    object: Literal["realtime.item"] | None = None
    status: Literal["completed", "incomplete", "in_progress"] | None = None


class UserMessage(_Item):
    type: Literal["message"]
    role: Literal["user"]
    content: list[InputText] = Field(min_length=1)


class SystemMessage(_Item):
    type: Literal["message"]
    role: Literal["system"]
    content: list[InputText] = Field(min_length=1)


class AssistantMessage(_Item):
    type: Literal["message"]
    role: Literal["assistant"]
    content: list[OutputText] = Field(min_length=1)


class FunctionCallOutput(_Item):
    type: Literal["function_call_output"]
    call_id: str
    output: str


Item = Annotated[
    Annotated[UserMessage | SystemMessage | AssistantMessage, Field(discriminator="role")]
    | FunctionCallOutput,
    Field(union_mode="left_to_right"),
]


class ConversationItemCreate(_Event):
    type: Literal["conversation.item.create"]
    item: Item
    previous_item_id: str | None = None


class ConversationItemTruncate(_Event):
    type: Literal["conversation.item.truncate"]
    item_id: str
    content_index: int = Field(ge=0)
    audio_end_ms: int = Field(ge=0)


class ConversationItemDelete(_Event):
    type: Literal["conversation.item.delete"]
    item_id: str


class ConversationItemRetrieve(_Event):
    type: Literal["conversation.item.retrieve"]
    item_id: str


class ResponseParams(_Strict):
    """``response`` of ``response.create``: what this server can honour."""

    conversation: Literal["auto", "none"] | None = None
    input: list[Item] | None = None
    instructions: str | None = None
    metadata: dict[str, str] | None = None
    output_modalities: list[Literal["audio"]] | None = None


class ResponseCreate(_Event):
    type: Literal["response.create"]
    response: ResponseParams | None = None


class ResponseCancel(_Event):
    type: Literal["response.cancel"]
    response_id: str | None = None


ClientEvent = Annotated[
    SessionUpdate
    | InputAudioBufferAppend
    | InputAudioBufferCommit
    | InputAudioBufferClear
    | ConversationItemCreate
    | ConversationItemTruncate
    | ConversationItemDelete
    | ConversationItemRetrieve
    | ResponseCreate
    | ResponseCancel,
    Field(discriminator="type"),
]

_adapter: TypeAdapter[Any] = TypeAdapter(ClientEvent)

UNSUPPORTED_EVENTS = frozenset({"output_audio_buffer.clear"})
"""Client events of the protocol that this server refuses (WebRTC / SIP only)."""


class EventProblem(Exception):
    """A client event this server will not act on, with OpenAI's error fields."""

    def __init__(self, message: str, code: str, param: str | None, event_id: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        self.event_id = event_id


def parse_client_event(data: Any) -> Any:
    """Validate one decoded client event; raise :class:`EventProblem` when it is refused."""
    if not isinstance(data, dict):
        raise EventProblem("a client event must be a JSON object", "invalid_event", None, None)
    event_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
    kind = data.get("type")
    if not isinstance(kind, str):
        raise EventProblem("the event has no 'type'", "invalid_event", "type", event_id)
    if kind in UNSUPPORTED_EVENTS:
        raise EventProblem(
            f"{kind} is not supported by this server", "unsupported_event", "type", event_id
        )
    if kind == "session.update":
        data = _without_defaults(data)
    try:
        return _adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(p) for p in first["loc"]]
        if first["type"] == "union_tag_invalid" and loc == []:
            raise EventProblem(
                f"unknown event type {kind!r}", "invalid_event", "type", event_id
            ) from None
        # Drop the union tags pydantic puts in the location; keep the field path.
        path = ".".join(p for p in loc[1:] if not _is_tag(p))
        if first["type"] == "extra_forbidden":
            message = f"unknown or unsupported field {path!r} in {kind}"
            code = "unknown_parameter"
        else:
            message = f"invalid {kind}: {path or 'event'}: {first['msg']}"
            code = "invalid_value"
        raise EventProblem(message, code, path or None, event_id) from None


_DEFAULTS_WE_SHARE: dict[str, tuple[Any, ...]] = {
    "prompt": (None,),
    "include": (None, []),
    "truncation": (None, "auto"),
}
"""Session fields this server does not model, in the values that ask for nothing more
than what it does anyway: clients that send a full session object (with these at
OpenAI's defaults) are accepted; any other value is refused as unsupported."""


def _without_defaults(data: dict[str, Any]) -> dict[str, Any]:
    session = data.get("session")
    if not isinstance(session, dict):
        return data
    session = {
        k: v
        for k, v in session.items()
        if not (k in _DEFAULTS_WE_SHARE and any(v == d for d in _DEFAULTS_WE_SHARE[k]))
    }
    audio = session.get("audio")
    audio_in = audio.get("input") if isinstance(audio, dict) else None
    td = audio_in.get("turn_detection") if isinstance(audio_in, dict) else None
    if (
        isinstance(audio, dict)
        and isinstance(audio_in, dict)
        and isinstance(td, dict)
        and "idle_timeout_ms" in td
        and td["idle_timeout_ms"] is None
    ):
        td = {k: v for k, v in td.items() if k != "idle_timeout_ms"}
        session["audio"] = {**audio, "input": {**audio_in, "turn_detection": td}}
    return {**data, "session": session}


_TAGS = frozenset(
    {
        "user",
        "system",
        "assistant",
        "audio/pcm",
        "audio/pcmu",
        "audio/pcma",
        "server_vad",
        "semantic_vad",
        "int",
        "str",
    }
)


def _is_tag(part: str) -> bool:
    """Whether a pydantic error location part names a union member, not a field."""
    return part in _TAGS or "[" in part or part[:1].isupper()
