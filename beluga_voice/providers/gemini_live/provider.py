"""``GeminiLiveProvider``: Gemini 2.5 Flash native audio over the Live API."""

from __future__ import annotations

import ssl

from ..base import StreamingS2SProvider, StreamingSession
from ..config import S2SConfig
from ..registry import register_provider
from ..types import ConversationContext, ProviderCapabilities
from .session import GeminiLiveSession
from .settings import GeminiSettings, endpoint_url

__all__ = ["GeminiLiveProvider"]


class GeminiLiveProvider(StreamingS2SProvider):
    """Google Gemini Live (BidiGenerateContent): PCM16 16 kHz in, 24 kHz out.

    ``ssl_context`` is for private CAs (a proxy, a test server); the default trusts the
    system store.  Settings are the validated ``provider_specific`` keys
    (:class:`GeminiSettings`).
    """

    settings_model = GeminiSettings
    api_key_env = ("GEMINI_API_KEY", "GOOGLE_API_KEY")

    def __init__(
        self,
        config: S2SConfig,
        settings: GeminiSettings | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(config)
        self.name = "gemini"
        self.settings = settings or GeminiSettings()
        self.ssl_context = ssl_context
        s = self.settings
        self.capabilities = ProviderCapabilities(
            streaming=True,
            server_vad=s.activity_detection == "automatic",
            barge_in_truncation=False,  # the server trims its own memory of a cut reply
            tools=True,
            text_input=True,
            speak_text=True,
            transcripts=s.input_transcription or s.output_transcription,
            session_resumption=s.session_resumption,
            input_sample_rates=(16000,),
            output_sample_rate=24000,
            max_session_seconds=None if s.context_window_compression else 15 * 60,
        )

    @property
    def url(self) -> str:
        return endpoint_url(self.settings)

    async def _open_session(self, ctx: ConversationContext) -> StreamingSession:
        session = GeminiLiveSession(self, ctx)
        await session.start()
        return session

    @classmethod
    def from_config(cls, config: S2SConfig, settings: GeminiSettings | None) -> GeminiLiveProvider:
        return cls(config, settings)


register_provider(
    "gemini",
    GeminiLiveProvider.from_config,
    settings=GeminiSettings,
    api_key_env=GeminiLiveProvider.api_key_env,
    description="Google Gemini Live API (Gemini 2.5 Flash native audio) over WebSocket",
    credentials="GEMINI_API_KEY or GOOGLE_API_KEY (Vertex AI: a bearer token as api_key)",
)
