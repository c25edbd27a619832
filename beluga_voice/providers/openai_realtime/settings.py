"""``provider_specific`` settings of the ``openai_realtime`` and ``grok`` providers.

Both providers speak the same protocol, so they share one settings model; Grok's model
adds the options only Grok has (binary audio transport, a configurable PCM rate) and
rejects the ones it lacks (semantic VAD).  Unknown keys are rejected (``extra="forbid"``)
so that a typo fails loudly at start-up instead of silently using a default.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["FunctionTool", "GrokVoiceSettings", "OpenAIRealtimeSettings", "RealtimeSettings"]

_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

VadMode = Literal["server_vad", "semantic_vad", "none"]


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
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
        }


class RealtimeSettings(BaseModel):
    """Settings common to both dialects.

    ``vad`` chooses who detects the end of the user's turn: ``server_vad`` (energy based)
    or ``semantic_vad`` (meaning based, OpenAI only) on the server, or ``none`` for local
    turn detection, where :meth:`~beluga_voice.providers.base.StreamingSession.end_turn`
    commits the audio and asks for a reply.

    ``max_session_seconds`` is when a connection is replaced by a fresh one carrying the
    conversation (the services end sessions after about an hour); ``max_reconnects`` is
    how many times a dropped connection is re-established before the session fails.
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
    tools: list[FunctionTool] = Field(default_factory=list)
    tool_choice: Literal["auto", "none", "required"] = "auto"
    max_session_seconds: float = Field(default=3540.0, gt=0.0)
    session_rotation_grace: float = Field(default=60.0, ge=0.0)
    max_reconnects: int = Field(default=3, ge=0, le=20)
    reconnect_delay: float = Field(default=0.5, ge=0.0, le=30.0)
    response_timeout: float = Field(default=20.0, gt=0.0)
    open_timeout: float = Field(default=10.0, gt=0.0)
    replay_max_ms: int = Field(default=15000, ge=0)
    reseed_max_turns: int = Field(default=50, ge=0)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith(("ws://", "wss://")):
            raise ValueError("base_url must start with ws:// or wss://")
        if "?" in value:
            raise ValueError("base_url must not carry a query string; set 'model' instead")
        return value.rstrip("/")


class OpenAIRealtimeSettings(RealtimeSettings):
    """``provider_specific`` keys of ``openai_realtime``."""


class GrokVoiceSettings(RealtimeSettings):
    """``provider_specific`` keys of ``grok``.

    ``binary_audio`` moves audio as raw binary WebSocket frames instead of base64 inside
    JSON (a third less bandwidth, no encode cost); ``sample_rate`` is the PCM rate both
    ways, which Grok lets the client choose.
    """

    binary_audio: bool = False
    sample_rate: Literal[8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000] = 24000

    @field_validator("vad")
    @classmethod
    def _no_semantic(cls, value: str) -> str:
        if value == "semantic_vad":
            raise ValueError("grok supports vad 'server_vad' or 'none', not 'semantic_vad'")
        return value
