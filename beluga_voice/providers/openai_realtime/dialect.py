"""Everything that differs between OpenAI Realtime (GA) and the xAI Grok Voice Agent.

The two services share event names and most semantics; they differ in the shape of the
``session`` object, the shape of function tools, how a verbatim line is voiced, a few
server event names, the binary audio option, voices and error codes.  Keeping those
differences in one object means the protocol core has no ``if grok`` branches, and a third
compatible service is one more dialect.

Grok's side follows xAI's Voice Agent event reference (the tables behind docs.x.ai's
Voice Agent pages, read 2026-11-28), field by field: see docs/providers/grok.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from ..errors import ErrorCode
from .settings import G711_RATE, GrokVoiceSettings, OpenAIRealtimeSettings, RealtimeSettings

__all__ = ["GROK", "OPENAI", "Dialect", "ErrorRule"]


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """How one provider error maps to ours: the code, and whether it ends the session."""

    code: ErrorCode
    fatal: bool = False


# Error ``code`` / ``type`` values both services use (OpenAI's names; Grok reuses some).
# Anything unknown falls back to the message text, then to INVALID_REQUEST: a rejected
# client event, which does not end the conversation.
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

# xAI's error ``type`` values ("code" is documented as the same string): most errors are
# recoverable and the session stays open; ``timeout`` (inactivity) and ``max_duration``
# end it, and the shell carries the conversation over to a new connection.
_GROK_ERRORS: dict[str, ErrorRule] = {
    **_COMMON_ERRORS,
    "invalid_event": ErrorRule(ErrorCode.INVALID_REQUEST),
    "internal_error": ErrorRule(ErrorCode.INTERNAL_ERROR),
    "timeout": ErrorRule(ErrorCode.STREAM_CLOSED),
    "max_duration": ErrorRule(ErrorCode.STREAM_CLOSED),
    "unauthorized": ErrorRule(ErrorCode.AUTHENTICATION_ERROR, fatal=True),
    "forbidden": ErrorRule(ErrorCode.AUTHORIZATION_ERROR, fatal=True),
    "rate_limited": ErrorRule(ErrorCode.RATE_LIMIT),
}

# Message fragments, for errors whose codes are absent or unknown.  Lower case.
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
    assistant_part: str = "output_text"
    """Content type of an assistant's text in a seeded history item."""
    force_message: bool = False
    """Grok voices a fixed line with a ``force_message`` item (synthesised as written);
    OpenAI with an out-of-band ``response.create`` whose instructions fence the text."""

    def url(self, settings: RealtimeSettings) -> str:
        model = quote(settings.model or self.default_model, safe="")
        azure = isinstance(settings, OpenAIRealtimeSettings) and settings.azure_endpoint
        if azure:
            parts = urlsplit(azure)
            scheme = "ws" if parts.scheme in ("http", "ws") else "wss"
            return f"{scheme}://{parts.netloc}{parts.path}/openai/v1/realtime?model={model}"
        base = settings.base_url or self.default_url
        return f"{base}?model={model}"

    def headers(self, settings: RealtimeSettings, key: str) -> dict[str, str]:
        """The handshake's credentials: Azure takes an ``api-key`` header."""
        if isinstance(settings, OpenAIRealtimeSettings) and settings.azure_endpoint:
            return {"api-key": key}
        return {"Authorization": f"Bearer {key}"}

    def sample_rate(self, settings: RealtimeSettings) -> int:
        if settings.audio_format != "audio/pcm":
            return G711_RATE
        if isinstance(settings, GrokVoiceSettings):
            return settings.sample_rate
        return 24000

    def binary_audio(self, settings: RealtimeSettings) -> bool:
        return isinstance(settings, GrokVoiceSettings) and settings.binary_audio

    def classify(self, code: str | None, kind: str | None, message: str) -> ErrorRule:
        """The rule for a server ``error`` (every error maps to one: none is hidden)."""
        for key in (code, kind):
            if key and key in self.errors:
                return self.errors[key]
        text = message.lower()
        for fragment, rule in _TEXT_RULES:
            if fragment in text:
                return rule
        return ErrorRule(ErrorCode.INVALID_REQUEST)

    def session(self, settings: RealtimeSettings, *, auto_respond: bool) -> dict[str, Any]:
        """The ``session`` object of ``session.update``.

        ``auto_respond=False`` (external reasoning) stops server VAD from answering on its
        own: the agent decides what is said and :meth:`speak` voices it.
        """
        if isinstance(settings, GrokVoiceSettings):
            return _grok_session(settings, self.default_voice, auto_respond)
        return _openai_session(settings, self.default_voice, auto_respond)


def _format(settings: RealtimeSettings, rate: int) -> dict[str, Any]:
    if settings.audio_format == "audio/pcm":
        return {"type": "audio/pcm", "rate": rate}
    return {"type": settings.audio_format}


def _openai_session(
    settings: RealtimeSettings, default_voice: str, auto_respond: bool
) -> dict[str, Any]:
    fmt = _format(settings, 24000)
    audio_in: dict[str, Any] = {
        "format": fmt,
        "turn_detection": _turn_detection(settings, auto_respond),
    }
    if settings.transcription_model:
        audio_in["transcription"] = {"model": settings.transcription_model}
        if settings.transcription_language:
            audio_in["transcription"]["language"] = settings.transcription_language
    audio_out: dict[str, Any] = {"format": dict(fmt), "voice": settings.voice or default_voice}
    session: dict[str, Any] = {"type": "realtime", "output_modalities": ["audio"]}
    if settings.instructions is not None:
        session["instructions"] = settings.instructions
    session["audio"] = {"input": audio_in, "output": audio_out}
    if settings.tools:
        session["tools"] = [tool.wire() for tool in settings.tools]
        session["tool_choice"] = settings.tool_choice
    return session


def _grok_session(
    settings: GrokVoiceSettings, default_voice: str, auto_respond: bool
) -> dict[str, Any]:
    """xAI's session object: voice, instructions and turn detection on top, formats and
    transports under ``audio``, function tools nested under ``function``."""
    fmt = _format(settings, settings.sample_rate)
    if settings.audio_format != "audio/pcm":
        fmt["rate"] = G711_RATE  # "use 8000 for telephony (G.711)"
    session: dict[str, Any] = {"voice": settings.voice or default_voice}
    if settings.instructions is not None:
        session["instructions"] = settings.instructions
    if settings.reasoning_effort is not None:
        session["reasoning"] = {"effort": settings.reasoning_effort}
    turn: dict[str, Any] | None = None
    if settings.vad != "none":
        turn = {"type": "server_vad"}
        for key, value in (
            ("threshold", settings.vad_threshold),
            ("prefix_padding_ms", settings.vad_prefix_padding_ms),
            ("silence_duration_ms", settings.vad_silence_duration_ms),
            ("idle_timeout_ms", settings.vad_idle_timeout_ms),
        ):
            if value is not None:
                turn[key] = value
    session["turn_detection"] = turn
    audio_in: dict[str, Any] = {"format": fmt}
    audio_out: dict[str, Any] = {"format": dict(fmt)}
    transcription: dict[str, Any] = {}
    if settings.transcription_model:
        transcription["model"] = settings.transcription_model
    if settings.language_hint:
        transcription["language_hint"] = settings.language_hint
    if settings.keyterms:
        transcription["keyterms"] = list(settings.keyterms)
    if transcription:
        audio_in["transcription"] = transcription
    if settings.binary_audio:
        audio_in["transport"] = audio_out["transport"] = "binary"
    if settings.output_speed is not None:
        audio_out["speed"] = settings.output_speed
    session["audio"] = {"input": audio_in, "output": audio_out}
    if settings.tools:
        session["tools"] = [tool.wire_nested() for tool in settings.tools]
    if settings.replace:
        session["replace"] = dict(settings.replace)
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
        "response.audio.delta": "response.output_audio.delta",
        "response.audio.done": "response.output_audio.done",
        "conversation.item.input_audio_transcription.updated": (
            "conversation.item.input_audio_transcription.delta"
        ),
    },
    assistant_part="text",
    force_message=True,
)
