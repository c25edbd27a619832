"""The local provider: speech to speech with no network and no API key.

:class:`LocalS2SProvider` composes the embedded engines behind the streaming provider API,
so everything built for cloud providers (the S2S processor, retry, fallback, the CLI)
works offline too::

    user audio -> VAD endpointing + pocketsphinx -> agent (rules, echo, OpenAI-compatible,
    or yours) -> sentence aggregation -> espeak-ng -> reply audio

It behaves like a server-VAD provider: it reports the user's speech, answers each
finished utterance, and a user who speaks over a reply cuts it (``SpeechStarted`` while a
reply is being produced cancels it).  ``interrupt(played_ms)`` truncates the assistant's
last turn in the conversation history to the words the user heard.

The session is pull driven like every session: :meth:`LocalSession._receive` drains the
client's commands (audio is endpointed and recognised in a worker thread), then advances
the current reply by one step (next agent piece, or one synthesised sentence).  A step
runs inside a cancel scope that :meth:`~LocalSession.interrupt` cancels, so a barge-in
stops a reply between two sentences at the latest.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Literal

import anyio
from pydantic import BaseModel, ConfigDict, Field

from ..agents.base import Agent
from ..audio.vad import WebRTCAnalyzer
from ..conversation import ConversationContext
from ..stt.base import STTEngine
from ..stt.utterance import UtteranceRecognizer
from ..tts.base import TTSEngine
from .base import StreamingS2SProvider
from .config import S2SConfig
from .errors import ErrorCode, S2SError
from .local_session import LocalSession
from .registry import register_provider
from .targets import TURN_TIMING, fill, language_of, refuse_language, require_mono
from .types import ProviderCapabilities

__all__ = ["LocalS2SProvider", "LocalSession", "LocalSettings"]

log = logging.getLogger(__name__)


class LocalSettings(BaseModel):
    """``provider_specific`` keys of the ``local`` provider."""

    model_config = ConfigDict(extra="forbid")

    agent: Literal["rules", "echo", "openai"] = "rules"
    stt_model: Literal["auto", "domain", "general"] = "auto"
    """``auto``: a domain model from the agent's phrases when it has some, else general."""
    voice: str = "en-us"
    speech_rate: int = Field(default=165, ge=80, le=450)
    silence_ms: int = Field(default=500, ge=100, le=5000)
    """Quiet that ends a user turn."""
    vad: Literal["energy", "webrtc"] = "energy"
    """What tells speech from silence: the built-in energy detector, or WebRTC's VAD
    (the ``vad`` extra), which ends fewer turns early at a short ``silence_ms``."""
    turn_detection: Literal["server", "client"] = "server"
    chunk_ms: int = Field(default=20, ge=5, le=500)
    system_prompt: str | None = None
    openai_base_url: str = "http://127.0.0.1:11434/v1"
    openai_model: str = "llama3.2"

    def for_config(self, config: S2SConfig) -> LocalSettings:
        """End-of-turn silence from the latency target and the espeak voice from
        ``config.language``, where the user set nothing.  The recogniser's models are
        English: any other language is an ``invalid_config``."""
        require_mono("local", config.channels)
        if language_of(config.language) != "en":
            raise refuse_language("local", config.language, "English only (en-US, en-GB, ...)")
        voice = "en-gb" if config.language.lower().startswith("en-gb") else "en-us"
        timing = TURN_TIMING[config.latency_target]
        webrtc = importlib.util.find_spec("webrtcvad") is not None
        vad = timing.local_vad
        if vad == "webrtc" and not webrtc and "vad" not in self.model_fields_set:
            log.warning(
                "local: latency_target %r uses the WebRTC VAD, which needs the 'vad' "
                "extra; using the energy VAD instead",
                config.latency_target,
            )
            vad = "energy"
        settings = fill(self, {"silence_ms": timing.local_silence_ms, "voice": voice, "vad": vad})
        if settings.vad == "webrtc" and not webrtc:
            raise S2SError(
                "new_provider",
                ErrorCode.INVALID_CONFIG,
                "provider_specific.vad: 'webrtc' needs pip install 'beluga-voice[vad]'",
            )
        return settings


class LocalS2SProvider(StreamingS2SProvider):
    """See the module docstring.  ``agent``, ``stt`` and ``tts`` replace the engines the
    settings would choose (bring your own reasoning, recogniser or voice)."""

    settings_model = LocalSettings

    def __init__(
        self,
        config: S2SConfig | None = None,
        settings: LocalSettings | None = None,
        *,
        agent: Agent | None = None,
        stt: STTEngine | None = None,
        tts: TTSEngine | None = None,
        name: str = "local",
    ) -> None:
        super().__init__(config or S2SConfig(provider="local"))
        self.name = name
        self.settings = (settings or LocalSettings()).for_config(self.config)
        s = self.settings
        try:
            self.agent = agent if agent is not None else self._default_agent()
            self.stt = stt if stt is not None else self._default_stt()
            self.tts = tts if tts is not None else self._default_tts()
        except (ValueError, RuntimeError) as exc:  # bad settings: say which, at creation
            raise S2SError("new_provider", ErrorCode.INVALID_CONFIG, f"local: {exc}") from None
        self.capabilities = ProviderCapabilities(
            server_vad=s.turn_detection == "server",
            barge_in_truncation=True,
            tools=False,
            text_input=True,
            speak_text=True,
            transcripts=True,
            input_sample_rates=(self.stt.sample_rate,),
            output_sample_rate=self.tts.sample_rate,
        )

    @classmethod
    def from_config(cls, config: S2SConfig, settings: LocalSettings | None) -> LocalS2SProvider:
        return cls(config, settings)

    def _default_agent(self) -> Agent:
        s = self.settings
        if s.agent == "echo":
            from ..agents.echo import EchoAgent

            return EchoAgent()
        if s.agent == "openai":
            from ..agents.openai_compat import OpenAICompatAgent

            return OpenAICompatAgent(
                s.openai_base_url,
                s.openai_model,
                self.config.api_key,
                system_prompt=s.system_prompt,
                timeout=self.config.timeout,
            )
        from ..agents.rules import RuleAgent

        return RuleAgent()

    def _default_tts(self) -> TTSEngine:
        from ..tts.espeak import EspeakTTS

        s = self.settings
        tts = EspeakTTS(s.voice, rate=s.speech_rate, sample_rate=self.config.sample_rate)
        tts.synthesize("a")  # an unknown voice fails here, not in the first reply
        return tts

    def _default_stt(self) -> STTEngine:
        from ..stt.pocketsphinx import PocketSphinxSTT

        phrases = getattr(self.agent, "phrases", None)
        mode = self.settings.stt_model
        if mode == "domain" and phrases is None:
            raise S2SError(
                "new_provider",
                ErrorCode.INVALID_CONFIG,
                "provider_specific.stt_model: 'domain' needs an agent with phrases()",
            )
        if mode != "general" and callable(phrases):
            return PocketSphinxSTT(phrases=phrases())
        return PocketSphinxSTT()

    async def _open_session(self, ctx: ConversationContext) -> LocalSession:
        try:
            stream = await anyio.to_thread.run_sync(self.stt.open_stream)
        except (OSError, ValueError, RuntimeError) as exc:
            raise S2SError(
                "connect", ErrorCode.MODEL_NOT_AVAILABLE, f"local STT: {exc}", cause=exc
            ) from None
        analyzer = WebRTCAnalyzer(stream.sample_rate) if self.settings.vad == "webrtc" else None
        recognizer = UtteranceRecognizer(
            stream, silence_ms=self.settings.silence_ms, analyzer=analyzer
        )
        return LocalSession(self, ctx, recognizer)


register_provider(
    "local",
    LocalS2SProvider.from_config,
    settings=LocalSettings,
    requires_api_key=False,
    description="Offline: pocketsphinx STT, a local agent and espeak-ng TTS",
    credentials="none (agent=openai uses config.api_key for its endpoint, if it needs one)",
)
