"""``provider_specific`` settings of the ``gemini`` provider, and the setup message they make.

The setup message is the only place where configuration meets the wire, so it is built
here from validated settings, in the camelCase JSON the service reads.  The shape follows
what the official ``google-genai`` SDK sends (its ``_live_converters`` module): notably
``realtimeInputConfig`` sits directly under ``setup``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..targets import TURN_TIMING, fill, require_mono
from .models import DEFAULT_DEVELOPER_MODEL, DEFAULT_VERTEX_MODEL, MODELS, SHUT_DOWN, short_name

if TYPE_CHECKING:
    from ..config import S2SConfig

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_VERTEX_MODEL",
    "EXTERNAL_REASONING_INSTRUCTION",
    "GeminiSettings",
    "ToolDeclaration",
    "build_setup",
    "endpoint_url",
]

DEFAULT_MODEL = f"models/{DEFAULT_DEVELOPER_MODEL}"
"""The Developer API's default; on Vertex AI the default is :data:`DEFAULT_VERTEX_MODEL`."""
GEMINI_HOST = "wss://generativelanguage.googleapis.com"
_GEMINI_PATH = "/ws/google.ai.generativelanguage.{version}.GenerativeService.BidiGenerateContent"
_VERTEX_PATH = "/ws/google.cloud.aiplatform.{version}.LlmBidiService/BidiGenerateContent"

EXTERNAL_REASONING_INSTRUCTION = (
    "You are only the voice of this assistant; someone else decides what to say. "
    "Never answer the user by yourself. When a message begins with 'Say exactly this', "
    "speak the text that follows exactly as written, adding nothing and leaving nothing out."
)
"""Why an instruction: Gemini Live has no "listen but do not answer" switch, so in external
reasoning mode the model is told to stay a voice; the session also drops any reply it did
not ask for through ``speak()``."""

Sensitivity = Literal["high", "low"]


class ToolDeclaration(BaseModel):
    """One function the model may call: a name, a description and a JSON schema."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
    description: str = ""
    parameters: dict[str, Any] | None = None
    """JSON Schema of the arguments (sent as ``parametersJsonSchema``)."""
    behavior: Literal["BLOCKING", "NON_BLOCKING"] | None = None
    """``NON_BLOCKING``: the model keeps talking while the call runs (asynchronous tools);
    the model's default when unset."""


class GeminiSettings(BaseModel):
    """What the ``gemini`` provider lets you tune; unknown keys are rejected.

    ``activity_detection="automatic"`` lets Google's server VAD find turns (and barge-ins);
    ``"manual"`` turns it off, and the session then marks turns itself: the first audio of
    a turn sends ``activityStart`` and :meth:`end_turn` sends ``activityEnd``.
    """

    model_config = ConfigDict(extra="forbid")

    model: str = DEFAULT_MODEL
    """Defaults to :data:`DEFAULT_MODEL`, or :data:`DEFAULT_VERTEX_MODEL` with ``vertexai``."""
    voice: str | None = "Puck"
    speech_language: str | None = None
    """BCP 47 code for ``speechConfig.languageCode``; native audio models pick it themselves."""
    system_instruction: str | None = None
    activity_detection: Literal["automatic", "manual"] = "automatic"
    start_sensitivity: Sensitivity | None = None
    end_sensitivity: Sensitivity | None = None
    prefix_padding_ms: int | None = Field(default=None, ge=0, le=10_000)
    silence_duration_ms: int | None = Field(default=None, ge=0, le=10_000)
    proactive_audio: bool | None = None
    """``setup.proactivity.proactiveAudio``: the model may stay silent when not addressed.
    ``None`` leaves the model's default (always on for Gemini 3.8 Live)."""
    affective_dialog: bool | None = None
    """``generationConfig.enableAffectiveDialog``: answers that follow the user's tone."""
    barge_in: bool = True
    """``False`` sends ``activityHandling: NO_INTERRUPTION``: user speech does not cut replies."""
    tools: list[ToolDeclaration] = Field(default_factory=list)
    input_transcription: bool = True
    output_transcription: bool = True
    context_window_compression: bool = True
    """A sliding window lets a session outlive the model's context (and its 15 min cap)."""
    compression_trigger_tokens: int | None = Field(default=None, gt=0)
    session_resumption: bool = True
    """Ask for resumption handles: the rotation after goAway needs them, and the retry
    layer resumes a dropped session with the newest one."""
    transparent_resumption: bool = False
    """Vertex AI only: the server then says which client message it consumed last, so a
    reconnect replays exactly the audio it has not covered."""
    replay_margin_s: float = Field(default=1.0, ge=0.0, le=30.0)
    """Without transparent resumption, audio sent this long before a handle arrived is
    replayed as well, since it may still have been in flight (duplicates over loss)."""
    max_replay_s: float = Field(default=30.0, gt=0.0, le=600.0)
    stall_timeout_s: float = Field(default=15.0, gt=0.0, le=600.0)
    """A reply (or setup) that produces nothing for this long fails with stream_timeout."""
    base_url: str | None = None
    """``wss://host[:port]`` to talk to instead of Google (a proxy, or a fake server)."""
    api_version: str = Field(default="v1beta", pattern=r"^v\d+(alpha|beta)?\d*$")
    vertexai: bool = False
    project: str | None = None
    location: str | None = None
    credentials_file: str | None = None
    """Vertex AI: a service account key file.  Without it (and without ``api_key``) the
    application default credentials are used; either way the token is refreshed."""

    @model_validator(mode="before")
    @classmethod
    def _default_model(cls, data: Any) -> Any:
        # Vertex AI serves other model ids than the Developer API.
        if isinstance(data, dict) and data.get("vertexai") and data.get("model") is None:
            return {**data, "model": DEFAULT_VERTEX_MODEL}
        return data

    @model_validator(mode="after")
    def _check_model(self) -> GeminiSettings:
        """Refuse, at configuration time, what the service would refuse at setup."""
        name = short_name(self.model)
        if name in SHUT_DOWN:
            raise ValueError(f"model: {name} was shut down on {SHUT_DOWN[name]}")
        model = MODELS.get(name)
        if model is None:
            return self  # not in our table: the service decides
        if self.affective_dialog and not model.affective_dialog:
            raise ValueError(f"affective_dialog: {name} does not offer affective dialog")
        fixed = model.proactive_audio != "optional"
        if fixed and self.proactive_audio not in (None, model.proactive_audio == "always"):
            state = "always on" if model.proactive_audio == "always" else "not offered"
            raise ValueError(f"proactive_audio: on {name} proactive audio is {state}")
        if not model.async_tools and any(t.behavior == "NON_BLOCKING" for t in self.tools):
            raise ValueError(f"tools: {name} runs function calls synchronously only")
        wants_alpha = self.affective_dialog or self.proactive_audio
        alpha = model.v1alpha_features and not self.vertexai
        if alpha and wants_alpha and self.api_version != "v1alpha":
            raise ValueError(
                f"api_version: proactive audio and affective dialog on {name} need v1alpha"
            )
        return self

    @model_validator(mode="after")
    def _check(self) -> GeminiSettings:
        if self.vertexai and not (self.project and self.location):
            raise ValueError("vertexai needs project and location")
        if self.credentials_file and not self.vertexai:
            raise ValueError("credentials_file is for Vertex AI (vertexai: true)")
        if self.transparent_resumption and not self.vertexai:
            raise ValueError("transparent_resumption is only offered by Vertex AI")
        if self.base_url is not None and not self.base_url.startswith(("ws://", "wss://")):
            raise ValueError("base_url must start with ws:// or wss://")
        return self

    def for_config(self, config: S2SConfig) -> Self:
        """These settings with ``config``'s language (``speechConfig.languageCode``) and
        latency target (activity detection sensitivities and silence) where the user set
        nothing: see :mod:`beluga_voice.providers.targets`."""
        require_mono("gemini", config.channels)
        values: dict[str, Any] = {"speech_language": config.language}
        if self.activity_detection == "automatic":
            timing = TURN_TIMING[config.latency_target]
            values["start_sensitivity"] = timing.gemini_start
            values["end_sensitivity"] = timing.gemini_end
            values["silence_duration_ms"] = timing.silence_ms
        return fill(self, values)

    @property
    def wire_model(self) -> str:
        """The model name as the endpoint wants it (Vertex needs the full resource name)."""
        name = self.model
        if not self.vertexai:
            return name if name.startswith(("models/", "tunedModels/")) else f"models/{name}"
        if name.startswith("projects/"):
            return name
        short = name.removeprefix("models/").removeprefix("publishers/google/models/")
        return f"projects/{self.project}/locations/{self.location}/publishers/google/models/{short}"


def endpoint_url(settings: GeminiSettings) -> str:
    """The WebSocket URL of BidiGenerateContent for these settings."""
    if settings.vertexai:
        host = settings.base_url or f"wss://{settings.location}-aiplatform.googleapis.com"
        path = _VERTEX_PATH
    else:
        host = settings.base_url or GEMINI_HOST
        path = _GEMINI_PATH
    return host.rstrip("/") + path.format(version=settings.api_version)


def _sensitivity(kind: str, value: Sensitivity | None) -> dict[str, str]:
    if value is None:
        return {}
    key = "startOfSpeechSensitivity" if kind == "START" else "endOfSpeechSensitivity"
    return {key: f"{kind}_SENSITIVITY_{value.upper()}"}


def build_setup(
    settings: GeminiSettings,
    *,
    language: str | None = None,
    external_reasoning: bool = False,
    resume_handle: str | None = None,
) -> dict[str, Any]:
    """The first client message: ``{"setup": {...}}`` for these settings."""
    speech: dict[str, Any] = {}
    if settings.voice:
        speech["voiceConfig"] = {"prebuiltVoiceConfig": {"voiceName": settings.voice}}
    if language:
        speech["languageCode"] = language
    generation: dict[str, Any] = {"responseModalities": ["AUDIO"]}
    if speech:
        generation["speechConfig"] = speech
    if settings.affective_dialog is not None:
        generation["enableAffectiveDialog"] = settings.affective_dialog
    setup: dict[str, Any] = {"model": settings.wire_model, "generationConfig": generation}
    if settings.proactive_audio is not None:
        setup["proactivity"] = {"proactiveAudio": settings.proactive_audio}

    instructions = [t for t in (settings.system_instruction,) if t]
    if external_reasoning:
        instructions.append(EXTERNAL_REASONING_INSTRUCTION)
    if instructions:
        setup["systemInstruction"] = {"parts": [{"text": "\n\n".join(instructions)}]}

    if settings.tools:
        declarations = []
        for tool in settings.tools:
            decl: dict[str, Any] = {"name": tool.name, "description": tool.description}
            if tool.parameters is not None:
                decl["parametersJsonSchema"] = tool.parameters
            if tool.behavior is not None:
                decl["behavior"] = tool.behavior
            declarations.append(decl)
        setup["tools"] = [{"functionDeclarations": declarations}]

    detection: dict[str, Any] = {"disabled": settings.activity_detection == "manual"}
    detection |= _sensitivity("START", settings.start_sensitivity)
    detection |= _sensitivity("END", settings.end_sensitivity)
    if settings.prefix_padding_ms is not None:
        detection["prefixPaddingMs"] = settings.prefix_padding_ms
    if settings.silence_duration_ms is not None:
        detection["silenceDurationMs"] = settings.silence_duration_ms
    setup["realtimeInputConfig"] = {
        "automaticActivityDetection": detection,
        "activityHandling": (
            "START_OF_ACTIVITY_INTERRUPTS" if settings.barge_in else "NO_INTERRUPTION"
        ),
    }

    if settings.input_transcription:
        setup["inputAudioTranscription"] = {}
    if settings.output_transcription:
        setup["outputAudioTranscription"] = {}
    if settings.session_resumption:
        resumption: dict[str, Any] = {}
        if resume_handle:
            resumption["handle"] = resume_handle
        if settings.transparent_resumption:
            resumption["transparent"] = True
        setup["sessionResumption"] = resumption
    if settings.context_window_compression:
        compression: dict[str, Any] = {"slidingWindow": {}}
        if settings.compression_trigger_tokens is not None:
            compression["triggerTokens"] = settings.compression_trigger_tokens
        setup["contextWindowCompression"] = compression
    return {"setup": setup}
