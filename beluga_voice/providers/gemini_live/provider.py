"""``GeminiLiveProvider``: Gemini Live models (Developer API or Vertex AI) over the Live API."""

from __future__ import annotations

import logging
import os
import ssl

from ...conversation import ConversationContext
from ..base import Resumption, StreamingS2SProvider, StreamingSession
from ..config import S2SConfig
from ..errors import ErrorCode, S2SError
from ..registry import register_provider
from ..types import ProviderCapabilities
from .credentials import GoogleCredentials, TokenSource
from .session import GeminiLiveSession
from .settings import GeminiSettings, endpoint_url

__all__ = ["GeminiLiveProvider"]

log = logging.getLogger("beluga_voice.providers.gemini")


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
        credentials: GoogleCredentials | None = None,
    ) -> None:
        settings = (settings or GeminiSettings()).for_config(config)
        if not settings.vertexai:
            config = _with_api_key(config)
        super().__init__(config)
        self.name = "gemini"
        self.settings = settings
        self.ssl_context = ssl_context
        self.tokens = _token_source(config, settings, credentials)
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

    async def _resume_session(
        self, ctx: ConversationContext, resume: Resumption
    ) -> StreamingSession:
        """Connect with a failed session's handle: the server restores its state of the
        conversation.  A handle it refuses (expired, unknown) means a fresh start."""
        session = GeminiLiveSession(self, ctx, resume=resume)
        try:
            await session.start()
        except S2SError as exc:
            if exc.is_retryable:
                raise
            log.warning("gemini: resumption refused (%s); starting afresh", exc.message)
            return await self._open_session(ctx)
        return session

    @classmethod
    def from_config(cls, config: S2SConfig, settings: GeminiSettings | None) -> GeminiLiveProvider:
        return cls(config, settings)


def _with_api_key(config: S2SConfig) -> S2SConfig:
    """The Developer API needs a key: ``config.api_key``, else the environment."""
    if config.api_key is not None:
        return config
    env = GeminiLiveProvider.api_key_env
    key = next((os.environ[v] for v in env if os.environ.get(v)), None)
    if key is None:
        raise S2SError(
            "new_provider",
            ErrorCode.INVALID_CONFIG,
            f"api_key: gemini needs an API key (config.api_key or {' or '.join(env)})",
        )
    return config.with_options(lambda data: data.__setitem__("api_key", key))


def _token_source(
    config: S2SConfig, settings: GeminiSettings, credentials: GoogleCredentials | None
) -> TokenSource:
    """The API key for the Developer API; for Vertex AI a fixed token in
    ``config.api_key``, else google-auth credentials that are refreshed."""
    secret = config.secret()
    if settings.vertexai and (credentials is not None or settings.credentials_file):
        secret = None
    return TokenSource(settings, static=secret, credentials=credentials)


register_provider(
    "gemini",
    GeminiLiveProvider.from_config,
    settings=GeminiSettings,
    api_key_env=GeminiLiveProvider.api_key_env,
    requires_api_key=False,  # Vertex AI finds its own credentials; checked above
    description="Google Gemini Live API (Gemini 3.8 Live, Vertex AI native audio) over WebSocket",
    credentials=(
        "GEMINI_API_KEY or GOOGLE_API_KEY; Vertex AI: service account or application "
        "default credentials (refreshed), or an access token as api_key"
    ),
)
