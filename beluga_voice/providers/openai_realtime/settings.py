"""``provider_specific`` settings of the ``openai_realtime`` and ``grok`` providers.

Both providers speak the same protocol, so they share one settings model; OpenAI's adds
the Azure OpenAI endpoint, Grok's adds the options only Grok documents (binary audio
transport, a PCM rate from 8 to 48 kHz, reasoning effort, idle check-ins, output speed,
transcription hints, spoken-text replacements) and rejects the ones it lacks (semantic
VAD, ``create_response`` / ``interrupt_response``, ``tool_choice``).  Unknown keys are
rejected (``extra="forbid"``) so that a typo fails loudly at start-up instead of silently
using a default.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..targets import TURN_TIMING, fill, language_of, require_mono

if TYPE_CHECKING:
    from ..config import S2SConfig

__all__ = ["FunctionTool", "GrokVoiceSettings", "OpenAIRealtimeSettings", "RealtimeSettings"]

_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

VadMode = Literal["server_vad", "semantic_vad", "none"]
AudioFormatName = Literal["audio/pcm", "audio/pcmu", "audio/pcma"]
"""The wire format both ways: PCM16, or G.711 mu-law / A-law at 8 kHz (telephony)."""
G711_RATE = 8000


class FunctionTool(BaseModel):
    """A function the model may call, described by a JSON schema of its parameters."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _TOOL_NAME.match(value):
            raise ValueError("tool names are 1-64 characters of letters, digits, _ and -")
        return value

    @field_validator("parameters")
    @classmethod
    def _schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("type", "object") != "object":
            raise ValueError("tool parameters must be a JSON schema of type 'object'")
        return value

    def wire(self) -> dict[str, Any]:
        """OpenAI's flat function tool."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
        }

    def wire_nested(self) -> dict[str, Any]:
        """xAI's function tool: the definition nested under ``function``."""
        definition = {
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
        }
        return {"type": "function", "function": definition}


class RealtimeSettings(BaseModel):
    """Settings common to both dialects.

    ``vad`` chooses who detects the end of the user's turn: ``server_vad`` (energy based)
    or ``semantic_vad`` (meaning based, OpenAI only) on the server, or ``none`` for local
    turn detection, where :meth:`~beluga_voice.providers.base.StreamingSession.end_turn`
    commits the audio and asks for a reply.

    ``max_session_seconds`` is when a connection is replaced by a fresh one carrying the
    conversation (the services end sessions after about an hour).  A connection that
    drops or stalls ends the session with a retryable error: reconnecting is the retry
    layer's (``S2SConfig.max_retries``, see docs/resilience.md), not this client's.

    ``audio_format`` is what travels on the wire.  The session's own audio is always
    PCM16 mono: with ``audio/pcmu`` / ``audio/pcma`` it is PCM16 at 8 kHz, encoded to
    G.711 on the way out and decoded on the way in, so that a telephone call's audio
    crosses the network in the codec it came in.
    """

    model_config = ConfigDict(extra="forbid")

    base_url: str = ""
    """WebSocket URL without the query string; empty means the service's own."""
    model: str = ""
    voice: str = ""
    instructions: str | None = None
    vad: VadMode = "server_vad"
    vad_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    vad_prefix_padding_ms: int | None = Field(default=None, ge=0, le=5000)
    vad_silence_duration_ms: int | None = Field(default=None, ge=0, le=10000)
    vad_eagerness: Literal["low", "medium", "high", "auto"] | None = None
    vad_interrupt_response: bool = True
    transcription_model: str | None = None
    transcription_language: str | None = None
    """ISO 639-1 language of the user's speech for input transcription; unset, it comes
    from ``config.language``.  Sent only with ``transcription_model``: it is a setting of
    the transcription, and the speech model itself has none."""
    tools: list[FunctionTool] = Field(default_factory=list)
    tool_choice: Literal["auto", "none", "required"] = "auto"
    max_session_seconds: float = Field(default=3540.0, gt=0.0)
    session_rotation_grace: float = Field(default=60.0, ge=0.0)
    response_timeout: float = Field(default=20.0, gt=0.0)
    open_timeout: float = Field(default=10.0, gt=0.0)
    replay_max_ms: int = Field(default=15000, ge=0)
    reseed_max_turns: int = Field(default=50, ge=0)
    send_timeout: float = Field(default=10.0, gt=0.0)
    """How long one write may wait for the socket before the connection counts as dead."""
    audio_format: AudioFormatName = "audio/pcm"

    def for_config(self, config: S2SConfig) -> Self:
        """These settings with what ``config`` asks for (latency target, language)
        where the user set nothing: see :mod:`beluga_voice.providers.targets`."""
        require_mono("openai_realtime", config.channels)
        timing = TURN_TIMING[config.latency_target]
        values: dict[str, Any] = {"transcription_language": language_of(config.language)}
        if self.vad == "server_vad":
            values["vad_silence_duration_ms"] = timing.silence_ms
        elif self.vad == "semantic_vad":
            values["vad_eagerness"] = timing.eagerness
        return fill(self, values)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith(("ws://", "wss://")):
            raise ValueError("base_url must start with ws:// or wss://")
        if "?" in value:
            raise ValueError("base_url must not carry a query string; set 'model' instead")
        return value.rstrip("/")


class OpenAIRealtimeSettings(RealtimeSettings):
    """``provider_specific`` keys of ``openai_realtime``.

    ``azure_endpoint`` (``https://<resource>.openai.azure.com``) selects Azure OpenAI's
    GA Realtime endpoint, ``wss://<resource>.openai.azure.com/openai/v1/realtime``; the
    ``model`` is then the name of your deployment and the key goes in an ``api-key``
    header, as Azure documents it.
    """

    azure_endpoint: str = ""

    @field_validator("azure_endpoint")
    @classmethod
    def _azure(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("https", "wss", "http", "ws") or not parts.hostname:
            raise ValueError("azure_endpoint must be https://<resource>.openai.azure.com")
        if parts.query:
            raise ValueError("azure_endpoint must not carry a query string")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _one_endpoint(self) -> OpenAIRealtimeSettings:
        if self.azure_endpoint and self.base_url:
            raise ValueError("set either base_url or azure_endpoint, not both")
        return self


GROK_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000)
"""The PCM rates xAI lists for ``audio/pcm``; G.711 runs at 8 kHz."""


class GrokVoiceSettings(RealtimeSettings):
    """``provider_specific`` keys of ``grok``, after xAI's Voice Agent event reference.

    ``binary_audio`` moves audio as raw binary WebSocket frames instead of base64 inside
    JSON (a third less bandwidth, no encode cost); ``sample_rate`` is the PCM rate both
    ways, one of xAI's listed rates (8 kHz with G.711).  ``reasoning_effort`` (``high`` or
    ``none``), ``vad_idle_timeout_ms`` (the server checks in after that much silence),
    ``output_speed`` (0.7-1.5), ``language_hint``, ``keyterms`` and ``replace`` (spoken
    find-and-replace) are passed as xAI documents them.  xAI's server VAD always answers
    and always yields to the user's speech: it documents no switch for either, so
    ``vad_interrupt_response`` must stay true and external reasoning needs ``vad: none``.
    """

    binary_audio: bool = False
    sample_rate: Literal[8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000] = 24000
    reasoning_effort: Literal["high", "none"] | None = None
    vad_idle_timeout_ms: int | None = Field(default=None, ge=0)
    output_speed: float | None = Field(default=None, ge=0.7, le=1.5)
    language_hint: str | None = None
    keyterms: list[str] = Field(default_factory=list, max_length=100)
    replace: dict[str, str] = Field(default_factory=dict)

    def for_config(self, config: S2SConfig) -> Self:
        """Grok's server VAD silence from the latency target, and ``language_hint``
        (transcription) from ``config.language``, where the user set nothing."""
        require_mono("grok", config.channels)
        values: dict[str, Any] = {"language_hint": language_of(config.language)}
        if self.vad == "server_vad":
            values["vad_silence_duration_ms"] = TURN_TIMING[config.latency_target].silence_ms
        return fill(self, values)

    @field_validator("vad")
    @classmethod
    def _no_semantic(cls, value: str) -> str:
        if value == "semantic_vad":
            raise ValueError("grok supports vad 'server_vad' or 'none', not 'semantic_vad'")
        return value

    @field_validator("keyterms")
    @classmethod
    def _keyterms(cls, value: list[str]) -> list[str]:
        if any(not term or len(term) > 50 for term in value):
            raise ValueError("keyterms are 1-50 characters each (at most 100 of them)")
        return value

    @model_validator(mode="after")
    def _documented_only(self) -> GrokVoiceSettings:
        if not self.vad_interrupt_response:
            raise ValueError("grok always lets the user interrupt: vad_interrupt_response")
        if self.vad_eagerness is not None:
            raise ValueError("grok has no semantic VAD: vad_eagerness")
        if self.tool_choice != "auto":
            raise ValueError("grok documents no tool_choice")
        if self.audio_format != "audio/pcm":
            if "sample_rate" in self.model_fields_set and self.sample_rate != G711_RATE:
                raise ValueError(f"{self.audio_format} runs at 8000 Hz, not {self.sample_rate}")
            self.sample_rate = 8000
        return self
