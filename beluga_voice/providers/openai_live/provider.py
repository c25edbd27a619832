"""``OpenAILiveProvider``: OpenAI GPT-Live (``gpt-live-1`` family) over its WebSocket."""

from __future__ import annotations

from ...conversation import ConversationContext
from ..base import StreamingS2SProvider, StreamingSession
from ..config import S2SConfig
from ..registry import register_provider
from ..types import ProviderCapabilities
from .session import OpenAILiveSession
from .settings import OpenAILiveSettings

__all__ = ["OpenAILiveProvider"]


class OpenAILiveProvider(StreamingS2SProvider):
    """OpenAI GPT-Live: full-duplex, model-controlled voice; PCM16 at 24 (or 16) kHz.

    Turn taking and barge-in are the model's (``server_vad``); reasoning and tools are
    delegated to a Responses backend or, with ``reasoning_mode="external"``, to the
    application (``delegation``).  Settings are the validated ``provider_specific`` keys
    (:class:`OpenAILiveSettings`).
    """

    settings_model = OpenAILiveSettings
    api_key_env = ("OPENAI_API_KEY",)

    def __init__(self, config: S2SConfig, settings: OpenAILiveSettings | None = None) -> None:
        super().__init__(config)
        self.name = "openai_live"
        self.settings = settings or OpenAILiveSettings()
        rate = self.settings.sample_rate
        self.capabilities = ProviderCapabilities(
            streaming=True,
            server_vad=True,
            barge_in_truncation=True,  # our history and the model's context keep what was heard
            tools=True,
            text_input=False,
            speak_text=False,  # commentary is worded by the model, not read verbatim
            transcripts=True,
            session_resumption=False,
            input_sample_rates=(rate,),
            output_sample_rate=rate,
            max_session_seconds=None,
            delegation=True,
        )

    async def _open_session(self, ctx: ConversationContext) -> StreamingSession:
        session = OpenAILiveSession(self, ctx)
        await session.start()
        return session

    @classmethod
    def from_config(
        cls, config: S2SConfig, settings: OpenAILiveSettings | None
    ) -> OpenAILiveProvider:
        return cls(config, settings)


register_provider(
    "openai_live",
    OpenAILiveProvider.from_config,
    settings=OpenAILiveSettings,
    api_key_env=OpenAILiveProvider.api_key_env,
    description="OpenAI GPT-Live (gpt-live-1) over WebSocket, with delegation",
    credentials="OPENAI_API_KEY",
)
