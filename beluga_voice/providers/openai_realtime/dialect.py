"""Everything that differs between OpenAI Realtime (GA) and the xAI Grok Voice Agent.

The two services share event names and most semantics; they differ in the shape of the
``session`` object, a few server event names, keep-alive pings, the binary audio option,
voices and error codes.  Keeping those differences in one object means the protocol core
has no ``if grok`` branches, and a third compatible service is one more dialect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import ErrorCode
from .settings import GrokVoiceSettings, RealtimeSettings

__all__ = ["GROK", "OPENAI", "Dialect", "ErrorRule"]


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """How one provider error maps to ours: the code, and whether it ends the session."""

    code: ErrorCode
    fatal: bool = False


# Error ``code`` / ``type`` values both services use (OpenAI's names; Grok mostly reuses
# them for protocol errors).  Anything unknown falls back to the message text, then to
# INVALID_REQUEST: a rejected client event, which does not end the conversation.
_COMMON_ERRORS: dict[str, ErrorRule] = {
    "invalid_api_key": ErrorRule(ErrorCode.AUTHENTICATION_ERROR, fatal=True),
    "authentication_error": ErrorRule(ErrorCode.AUTHENTICATION_ERROR, fatal=True),
    "permission_denied": ErrorRule(ErrorCode.AUTHORIZATION_ERROR, fatal=True),
    "insufficient_quota": ErrorRule(ErrorCode.QUOTA_EXCEEDED, fatal=True),
    "model_not_found": ErrorRule(ErrorCode.INVALID_MODEL, fatal=True),
    "rate_limit_exceeded": ErrorRule(ErrorCode.RATE_LIMIT),
    "rate_limit_error": ErrorRule(ErrorCode.RATE_LIMIT),
    "tokens": ErrorRule(ErrorCode.RATE_LIMIT),
    "server_error": ErrorRule(ErrorCode.INTERNAL_ERROR),
    "session_expired": ErrorRule(ErrorCode.STREAM_CLOSED),
    "invalid_value": ErrorRule(ErrorCode.INVALID_REQUEST),
    "invalid_request_error": ErrorRule(ErrorCode.INVALID_REQUEST),
    "input_audio_buffer_commit_empty": ErrorRule(ErrorCode.INVALID_INPUT),
    "decimal_below_min_value": ErrorRule(ErrorCode.INVALID_REQUEST),
}

_GROK_ERRORS: dict[str, ErrorRule] = {
    **_COMMON_ERRORS,
    "unauthorized": ErrorRule(ErrorCode.AUTHENTICATION_ERROR, fatal=True),
    "forbidden": ErrorRule(ErrorCode.AUTHORIZATION_ERROR, fatal=True),
    "rate_limited": ErrorRule(ErrorCode.RATE_LIMIT),
    "too_many_requests": ErrorRule(ErrorCode.RATE_LIMIT),
    "internal_error": ErrorRule(ErrorCode.INTERNAL_ERROR),
    "session_timeout": ErrorRule(ErrorCode.STREAM_CLOSED),
    "invalid_request": ErrorRule(ErrorCode.INVALID_REQUEST),
}

# Message fragments, for services whose codes are absent or unstable.  Lower case.
_TEXT_RULES: tuple[tuple[str, ErrorRule], ...] = (
    ("api key", ErrorRule(ErrorCode.AUTHENTICATION_ERROR, fatal=True)),
    ("unauthori", ErrorRule(ErrorCode.AUTHENTICATION_ERROR, fatal=True)),
    ("quota", ErrorRule(ErrorCode.QUOTA_EXCEEDED, fatal=True)),
    ("rate limit", ErrorRule(ErrorCode.RATE_LIMIT)),
    ("session expired", ErrorRule(ErrorCode.STREAM_CLOSED)),
    ("maximum duration", ErrorRule(ErrorCode.STREAM_CLOSED)),
    ("internal", ErrorRule(ErrorCode.INTERNAL_ERROR)),
)


@dataclass(frozen=True, slots=True)
class Dialect:
    """One service's flavour of the realtime protocol."""

    name: str
    default_url: str
    default_model: str
    default_voice: str
    voices: tuple[str, ...]
    errors: dict[str, ErrorRule]
    aliases: dict[str, str] = field(default_factory=dict)
    """Server event names mapped to the GA name the core handles."""
    ignored: frozenset[str] = frozenset()
    """Server events that carry nothing for us (keep-alive pings)."""
    benign_codes: frozenset[str] = frozenset(
        {"response_cancel_not_active", "conversation_already_has_active_response"}
    )
    benign_texts: tuple[str, ...] = ()
    """Lower-case fragments of error messages that only report a harmless race (a cancel
    arriving after the reply ended).  They are dropped instead of surfacing as errors."""
    nested_session: bool = True
    """OpenAI GA nests voice and turn detection under ``audio``; Grok keeps them on top."""

    def url(self, settings: RealtimeSettings) -> str:
        base = settings.base_url or self.default_url
        return f"{base}?model={settings.model or self.default_model}"

    def sample_rate(self, settings: RealtimeSettings) -> int:
        if isinstance(settings, GrokVoiceSettings):
            return settings.sample_rate
        return 24000

    def binary_audio(self, settings: RealtimeSettings) -> bool:
        return isinstance(settings, GrokVoiceSettings) and settings.binary_audio

    def classify(self, code: str | None, kind: str | None, message: str) -> ErrorRule | None:
        """The rule for a server ``error``; ``None`` when it is a benign race to ignore."""
        text = message.lower()
        if (code and code in self.benign_codes) or any(t in text for t in self.benign_texts):
            return None
        for key in (code, kind):
            if key and key in self.errors:
                return self.errors[key]
        for fragment, rule in _TEXT_RULES:
            if fragment in text:
                return rule
        return ErrorRule(ErrorCode.INVALID_REQUEST)

    def session(self, settings: RealtimeSettings, *, auto_respond: bool) -> dict[str, Any]:
        """The ``session`` object of ``session.update``.

        ``auto_respond=False`` (external reasoning) stops server VAD from answering on its
        own: the agent decides what is said and :meth:`speak` voices it.
        """
        rate = self.sample_rate(settings)
        fmt: dict[str, Any] = {"type": "audio/pcm", "rate": rate}
        turn = _turn_detection(settings, auto_respond)
        audio_in: dict[str, Any] = {"format": fmt}
        audio_out: dict[str, Any] = {"format": dict(fmt)}
        if settings.transcription_model:
            audio_in["transcription"] = {"model": settings.transcription_model}
        session: dict[str, Any] = {}
        if settings.instructions is not None:
            session["instructions"] = settings.instructions
        voice = settings.voice or self.default_voice
        if self.nested_session:
            session["type"] = "realtime"
            session["output_modalities"] = ["audio"]
            audio_in["turn_detection"] = turn
            audio_out["voice"] = voice
        else:
            session["voice"] = voice
            session["turn_detection"] = turn
            if self.binary_audio(settings):
                audio_in["transport"] = "binary"
                audio_out["transport"] = "binary"
        session["audio"] = {"input": audio_in, "output": audio_out}
        if settings.tools:
            session["tools"] = [tool.wire() for tool in settings.tools]
            if self.nested_session:  # Grok documents no tool_choice
                session["tool_choice"] = settings.tool_choice
        return session


def _turn_detection(settings: RealtimeSettings, auto_respond: bool) -> dict[str, Any] | None:
    if settings.vad == "none":
        return None
    turn: dict[str, Any] = {
        "type": settings.vad,
        "create_response": auto_respond,
        "interrupt_response": settings.vad_interrupt_response,
    }
    if settings.vad == "semantic_vad":
        if settings.vad_eagerness is not None:
            turn["eagerness"] = settings.vad_eagerness
        return turn
    for key, value in (
        ("threshold", settings.vad_threshold),
        ("prefix_padding_ms", settings.vad_prefix_padding_ms),
        ("silence_duration_ms", settings.vad_silence_duration_ms),
    ):
        if value is not None:
            turn[key] = value
    return turn


OPENAI = Dialect(
    name="openai_realtime",
    default_url="wss://api.openai.com/v1/realtime",
    default_model="gpt-realtime-2.1",
    default_voice="marin",
    voices=(
        "alloy",
        "ash",
        "ballad",
        "coral",
        "echo",
        "sage",
        "shimmer",
        "verse",
        "marin",
        "cedar",
    ),
    errors=_COMMON_ERRORS,
)

GROK = Dialect(
    name="grok",
    default_url="wss://api.x.ai/v1/realtime",
    default_model="grok-voice-3.0",
    default_voice="eve",
    voices=("eve", "ara", "rex", "sal", "leo"),
    errors=_GROK_ERRORS,
    aliases={
        "response.text.delta": "response.output_text.delta",
        "response.text.done": "response.output_text.done",
        "conversation.item.input_audio_transcription.updated": (
            "conversation.item.input_audio_transcription.delta"
        ),
    },
    ignored=frozenset({"ping"}),
    benign_texts=("no active response", "already has an active response", "truncat"),
    nested_session=False,
)
