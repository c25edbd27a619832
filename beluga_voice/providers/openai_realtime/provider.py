"""``OpenAIRealtimeProvider`` and ``GrokVoiceProvider``: one implementation, two dialects."""

from __future__ import annotations

from typing import ClassVar

from ...conversation import ConversationContext
from ..base import StreamingS2SProvider, StreamingSession
from ..config import S2SConfig
from ..errors import ErrorCode, S2SError
from ..registry import register_provider
from ..types import ProviderCapabilities
from .dialect import GROK, OPENAI, Dialect
from .session import RealtimeSession
from .settings import GrokVoiceSettings, OpenAIRealtimeSettings, RealtimeSettings

__all__ = ["GrokVoiceProvider", "OpenAIRealtimeProvider", "RealtimeProvider"]


class RealtimeProvider(StreamingS2SProvider):
    """A provider for an OpenAI-Realtime-compatible WebSocket service."""

    dialect: ClassVar[Dialect]
    settings_model: ClassVar[type[RealtimeSettings]]

    def __init__(self, config: S2SConfig, settings: RealtimeSettings | None = None) -> None:
        super().__init__(config)
        self.settings = (settings or self.settings_model()).for_config(config)
        self.name = self.dialect.name
        if (
            isinstance(self.settings, GrokVoiceSettings)
            and config.reasoning_mode == "external"
            and self.settings.vad != "none"
        ):
            # xAI's server VAD always answers by itself (no create_response switch is
            # documented), which would talk over the external agent.
            raise S2SError(
                "new_provider",
                ErrorCode.INVALID_CONFIG,
                "grok: external reasoning needs vad 'none' (local turn detection): "
                "xAI's server VAD always answers by itself",
            )
        rate = self.dialect.sample_rate(self.settings)
        self.capabilities = ProviderCapabilities(
            streaming=True,
            server_vad=self.settings.vad != "none",
            barge_in_truncation=True,
            tools=True,
            text_input=True,
            speak_text=True,
            transcripts=True,
            session_resumption=False,
            input_sample_rates=(rate,),
            output_sample_rate=rate,
            max_session_seconds=self.settings.max_session_seconds,
        )

    @property
    def url(self) -> str:
        return self.dialect.url(self.settings)

    async def _open_session(self, ctx: ConversationContext) -> StreamingSession:
        session = RealtimeSession(self, ctx)
        await session.start()
        return session

    @classmethod
    def from_config(cls, config: S2SConfig, settings: RealtimeSettings | None) -> RealtimeProvider:
        return cls(config, settings)


class OpenAIRealtimeProvider(RealtimeProvider):
    """OpenAI Realtime (GA) over WebSocket: PCM16 at 24 kHz, or G.711 at 8 kHz; also on
    Azure OpenAI (``azure_endpoint``)."""

    dialect = OPENAI
    settings_model = OpenAIRealtimeSettings


class GrokVoiceProvider(RealtimeProvider):
    """xAI Grok Voice Agent: the realtime protocol with Grok's session shape and options."""

    dialect = GROK
    settings_model = GrokVoiceSettings


register_provider(
    "openai_realtime",
    OpenAIRealtimeProvider.from_config,
    settings=OpenAIRealtimeSettings,
    api_key_env=("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY"),
    description="OpenAI Realtime API (gpt-realtime) over WebSocket, or Azure OpenAI",
    credentials="OPENAI_API_KEY (Azure: AZURE_OPENAI_API_KEY, or config.api_key)",
)
register_provider(
    "grok",
    GrokVoiceProvider.from_config,
    settings=GrokVoiceSettings,
    api_key_env=("XAI_API_KEY",),
    description="xAI Grok Voice Agent over WebSocket",
    credentials="XAI_API_KEY",
)
