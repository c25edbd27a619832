"""``provider_specific`` settings of the ``amazon_nova`` provider."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator

from ..targets import TURN_TIMING, fill, language_of, refuse_language, require_mono

if TYPE_CHECKING:
    from ..config import S2SConfig

__all__ = ["MODEL_IDS", "VOICES", "NovaModelId", "NovaSettings", "NovaTool"]

# Nova 2 Sonic in-region, or through the cross-Region inference profiles the Nova 2 user
# guide lists (us., global.); Nova Sonic v1 reached end of life on 2026-09-14.
NovaModelId = Literal[
    "amazon.nova-2-sonic-v1:0",
    "amazon.nova-sonic-v1:0",
    "us.amazon.nova-2-sonic-v1:0",
    "global.amazon.nova-2-sonic-v1:0",
]
MODEL_IDS: tuple[NovaModelId, NovaModelId] = ("amazon.nova-2-sonic-v1:0", "amazon.nova-sonic-v1:0")
_SHORT_MODELS = {"nova-2-sonic": MODEL_IDS[0], "nova-sonic": MODEL_IDS[1]}


VOICES: dict[str, tuple[str, ...]] = {
    "en-US": ("matthew", "tiffany"),
    "en-GB": ("amy",),
    "en-AU": ("olivia",),
    "en-IN": ("arjun", "kiara"),
    "hi-IN": ("arjun", "kiara"),
    "fr-FR": ("florian", "ambre"),
    "it-IT": ("lorenzo", "beatrice"),
    "de-DE": ("lennart", "tina"),
    "es-US": ("carlos", "lupe"),
    "pt-BR": ("leo", "carolina"),
}
"""Nova 2 Sonic's voices per locale (the Nova 2 user guide's language support table).
Nova has no language field: the voice sets the language it speaks and hears best, so
``config.language`` chooses the voice.  ``matthew`` and ``tiffany`` are polyglot: they
speak every listed language."""
_POLYGLOT = frozenset({"matthew", "tiffany"})


def _voice_for(language: str) -> str | None:
    """The first voice of ``language``'s locale, else of another locale of its language."""
    if language in VOICES:
        return VOICES[language][0]
    primary = language_of(language)
    return next((v[0] for tag, v in VOICES.items() if language_of(tag) == primary), None)


class NovaTool(BaseModel):
    """A tool the model may call: ``input_schema`` is a JSON Schema object."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    description: str = ""
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})


class NovaSettings(BaseModel):
    """Everything specific to Bedrock and Nova Sonic.

    Credentials are normally found by the AWS chain (environment, ``profile``, SSO, role);
    explicit keys are for programs that manage credentials themselves.  ``endpoint_url``
    points the client at another endpoint, such as the fake server in
    :mod:`beluga_voice.testing.fake_bedrock` (``http://`` means cleartext HTTP/2).
    ``continue_after_seconds`` is when a stream is handed over to the next one: Bedrock ends
    a stream after about eight minutes.
    """

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    region: str = Field(default="us-east-1", pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$")
    model_id: NovaModelId = Field(
        default=MODEL_IDS[0], validation_alias=AliasChoices("model_id", "model")
    )
    """Also accepted as ``model``, and by the short names ``nova-2-sonic`` / ``nova-sonic``."""
    voice_id: str = Field(default="matthew", min_length=1, max_length=32)
    """Nova voice ids are lower case (``matthew``, ``tiffany``...); ``Tiffany`` is accepted."""
    endpointing_sensitivity: Literal["HIGH", "MEDIUM", "LOW"] | None = None
    system_prompt: str = (
        "You are a friendly voice assistant. Answer briefly, in a conversational tone."
    )
    tools: list[NovaTool] = Field(default_factory=list)
    endpoint_url: str | None = None
    ca_bundle: str | None = None
    """PEM file of extra trusted CAs (for a TLS endpoint with a private certificate)."""
    output_sample_rate: Literal[8000, 16000, 24000] = 24000
    max_tokens: int = Field(default=1024, ge=1, le=10000)
    temperature: float = Field(default=0.7, ge=0.0, le=1.0)
    top_p: float = Field(default=0.9, ge=0.0, le=1.0)
    profile: str | None = None
    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None
    aws_session_token: SecretStr | None = None
    continue_after_seconds: float = Field(default=450.0, gt=0.0, le=480.0)
    max_history_chars: int = Field(default=40_000, ge=0)
    """History handed over to a continuation stream, newest turns kept first."""
    max_buffered_seconds: float = Field(default=30.0, gt=0.0)
    """User audio held while a continuation stream opens; more is a stream_error."""
    end_turn_silence_ms: int = Field(default=800, ge=0, le=5000)
    """Silence sent by ``end_turn``: Nova detects turns itself, silence lets it close one."""
    connect_timeout: float = Field(default=10.0, gt=0.0)
    """Connection, and each stream's answer (a refusal's body included)."""
    send_timeout: float = Field(default=10.0, gt=0.0)
    """How long a write may wait for the socket or for HTTP/2 flow-control credit."""
    response_timeout: float = Field(default=20.0, gt=0.0)
    """Silence from Bedrock during a reply after which its stream counts as stalled: the
    stream is reset and the conversation continues on a fresh one."""

    def for_config(self, config: S2SConfig) -> Self:
        """The voice of ``config.language`` and the endpointing of its latency target,
        where the user set nothing; a language Nova cannot speak, or a voice that does not
        speak it, is an ``invalid_config`` naming what Nova supports."""
        require_mono("amazon_nova", config.channels)
        values: dict[str, Any] = {}
        if self.model_id.removeprefix("us.").removeprefix("global.").startswith("amazon.nova-2"):
            # turnDetectionConfiguration is a Nova 2 Sonic setting.
            values["endpointing_sensitivity"] = TURN_TIMING[config.latency_target].nova
        voice = _voice_for(config.language)
        if voice is None:
            raise refuse_language("amazon_nova", config.language, ", ".join(VOICES))
        if "voice_id" not in self.model_fields_set:
            values["voice_id"] = voice
        elif self.voice_id not in _POLYGLOT:
            speaks = [tag for tag, voices in VOICES.items() if self.voice_id in voices]
            if speaks and language_of(config.language) not in {language_of(t) for t in speaks}:
                raise refuse_language(
                    "amazon_nova",
                    config.language,
                    f"{', '.join(speaks)} with voice {self.voice_id!r} (polyglot voices: "
                    f"{', '.join(sorted(_POLYGLOT))})",
                )
        return fill(self, values)

    @field_validator("model_id", mode="before")
    @classmethod
    def _short_model(cls, value: object) -> object:
        return _SHORT_MODELS.get(value, value) if isinstance(value, str) else value

    @field_validator("voice_id")
    @classmethod
    def _voice(cls, value: str) -> str:
        return value.lower()

    @field_validator("endpoint_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("endpoint_url must start with http:// or https://")
        return value
