"""``provider_specific`` settings of the ``openai_live`` provider (OpenAI GPT-Live).

GPT-Live fixes model, instructions, voice and audio format at ``session.start``; only the
delegation settings may change later.  So every key here is read once, when a session
opens.  Unknown keys are rejected (``extra="forbid"``), like the service itself rejects
unknown fields in ``session.start``.

``delegation`` chooses who does the model's reasoning and tool work:

- ``"client"``: the application answers each ``session.delegation.created`` (the
  service's default when delegation is omitted);
- ``"responses"``: a Responses model managed by the session (``responses_model``) does the
  work; function tools declared in ``tools`` are executed by the application when that
  model calls them;
- ``"auto"`` (default): ``"responses"`` when ``responses_model`` is set and the config's
  ``reasoning_mode`` is ``built-in``, otherwise ``"client"``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..openai_realtime.settings import FunctionTool

__all__ = ["DEFAULT_MODEL", "DEFAULT_URL", "FunctionTool", "OpenAILiveSettings"]

DEFAULT_URL = "wss://api.openai.com/v1/live/sessions"
DEFAULT_MODEL = "gpt-live-1"

DelegationMode = Literal["auto", "client", "responses"]


class OpenAILiveSettings(BaseModel):
    """Keys of ``provider_specific`` for ``openai_live``; see the module docstring."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = ""
    """WebSocket URL of the sessions endpoint; empty means OpenAI's own."""
    model: str = DEFAULT_MODEL
    voice: str = ""
    """A built-in voice name (``marin`` when empty, the service's default)."""
    instructions: str | None = None
    sample_rate: Literal[16000, 24000] = 24000
    """PCM16 rate both ways; GPT-Live WebSockets take 16 or 24 kHz."""
    delegation: DelegationMode = "auto"
    acknowledgement_delay_ms: int | None = Field(default=None, ge=0, le=60000)
    """How long the model waits before a spoken "one moment" for a delegation (service
    default: immediately)."""
    answer_channel: Literal["commentary", "thinking"] = "commentary"
    """How a client delegation's answer goes back: ``commentary`` (the model says it) or
    ``thinking`` (silent context the model may use)."""
    responses_model: str = ""
    responses_instructions: str | None = None
    responses_max_output_tokens: int | None = Field(default=None, gt=0)
    web_search: bool = False
    """Give the Responses backend OpenAI's hosted web search tool."""
    tools: list[FunctionTool] = Field(default_factory=list)
    """Function tools of the Responses backend, executed by the application."""
    store: bool | None = None
    safety_identifier: str | None = None
    seed_max_turns: int = Field(default=40, ge=0, le=128)
    """History turns replayed as the session's initial ``input`` (the service takes 128)."""
    append_max_chars: int = Field(default=1800, ge=100, le=20000)
    """Longest single context append; longer answers are split (the service caps one
    append at 500 tokens, about 2,000 characters of English)."""
    reply_end_silence_ms: int = Field(default=600, ge=40, le=10000)
    """Output audio quieter than ``silence_level`` for this long ends a reply.  A
    full-duplex model streams digital silence while it listens, so a reply's end is found
    in the audio, not in the event stream."""
    silence_level: int = Field(default=64, ge=0, le=32767)
    """Peak sample value at or below which output audio counts as silence."""
    user_turn_gap_ms: int = Field(default=800, ge=50, le=10000)
    """Session-timeline gap between user transcript fragments that starts a new user turn."""
    open_timeout: float = Field(default=10.0, gt=0.0)
    """Deadline for the handshake and for ``session.started``."""
    close_timeout: float = Field(default=5.0, gt=0.0)
    """Deadline for ``session.closed`` (with the final usage) after ``session.close``."""
    idle_reply_timeout: float = Field(default=1.5, gt=0.0)
    """A reply with no output audio for this long (wall clock) is over, even without
    trailing silence (a server that stops sending instead of streaming silence)."""

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith(("ws://", "wss://")):
            raise ValueError("base_url must start with ws:// or wss://")
        if "?" in value:
            raise ValueError("base_url takes no query string: GPT-Live has no URL parameters")
        return value.rstrip("/")

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("model must not be empty (e.g. 'gpt-live-1')")
        return value

    @property
    def url(self) -> str:
        return self.base_url or DEFAULT_URL

    @model_validator(mode="after")
    def _backend(self) -> OpenAILiveSettings:
        if self.delegation == "responses" and not self.responses_model:
            raise ValueError("delegation 'responses' needs responses_model (e.g. 'gpt-5.5')")
        if (self.tools or self.web_search) and not self.responses_model:
            raise ValueError(
                "tools and web_search belong to the Responses backend: set responses_model"
            )
        return self

    def resolved_delegation(self, reasoning_mode: str) -> Literal["client", "responses"]:
        """The delegation mode a session uses, given the config's ``reasoning_mode``."""
        if self.delegation != "auto":
            return self.delegation
        if reasoning_mode == "external" or not self.responses_model:
            return "client"
        return "responses"
