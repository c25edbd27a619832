"""``AmazonNovaSonicProvider``: Amazon Nova (2) Sonic on Bedrock, registered as ``amazon_nova``."""

from __future__ import annotations

import ssl
from urllib.parse import quote, urlsplit

from ...conversation import ConversationContext
from ...tls import client_context
from ..base import StreamingS2SProvider, StreamingSession
from ..config import S2SConfig
from ..errors import ErrorCode, S2SError
from ..registry import register_provider
from ..types import ProviderCapabilities
from .protocol import INPUT_SAMPLE_RATE
from .session import NovaSession
from .settings import NovaSettings
from .signing import CredentialProvider
from .transport import H2Connection

__all__ = ["AmazonNovaSonicProvider"]


def _credentials(config: S2SConfig, settings: NovaSettings) -> CredentialProvider:
    """Explicit keys from the settings or ``config.api_key``, else the AWS chain.

    ``config.api_key`` may hold ``ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]``, or just
    an access key id (what ``AWS_ACCESS_KEY_ID`` holds): the chain must then find that key,
    with its secret, for instance in ``AWS_SECRET_ACCESS_KEY``.
    """
    key_id = settings.aws_access_key_id
    secret = settings.aws_secret_access_key
    token = settings.aws_session_token
    if key_id is not None or secret is not None:
        return CredentialProvider(
            access_key_id=key_id.get_secret_value() if key_id else None,
            secret_access_key=secret.get_secret_value() if secret else None,
            session_token=token.get_secret_value() if token else None,
            profile=settings.profile,
        )
    api_key = config.secret()
    if api_key:
        parts = api_key.split(":")
        if len(parts) == 1:
            return CredentialProvider(profile=settings.profile, expected_access_key_id=api_key)
        if len(parts) not in (2, 3) or not all(parts):
            raise S2SError(
                "new_provider",
                ErrorCode.INVALID_CONFIG,
                "api_key: amazon_nova takes ACCESS_KEY_ID, "
                "ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN], or nothing (the AWS chain)",
            )
        return CredentialProvider(
            access_key_id=parts[0],
            secret_access_key=parts[1],
            session_token=parts[2] if len(parts) == 3 else None,
        )
    return CredentialProvider(profile=settings.profile)


class AmazonNovaSonicProvider(StreamingS2SProvider):
    """Amazon Nova Sonic over Bedrock's bidirectional HTTP/2 stream.

    Takes 16 kHz PCM16 mono, answers at ``output_sample_rate`` (24 kHz by default), detects
    turns and barge-in on the server, calls tools, and hands long conversations over to a
    fresh stream before Bedrock's eight-minute limit.
    """

    name = "amazon_nova"
    settings_model = NovaSettings
    requires_api_key = False

    def __init__(
        self,
        config: S2SConfig | None = None,
        settings: NovaSettings | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        credentials: CredentialProvider | None = None,
    ) -> None:
        config = config or S2SConfig(provider="amazon_nova")
        super().__init__(config)
        self.settings = (settings or NovaSettings()).for_config(config)
        s = self.settings
        self.credentials = credentials or _credentials(config, s)
        base = s.endpoint_url or f"https://bedrock-runtime.{s.region}.amazonaws.com"
        parts = urlsplit(base)
        if not parts.hostname:
            raise S2SError("new_provider", ErrorCode.INVALID_CONFIG, "endpoint_url has no host")
        self._tls = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._tls else 80)
        self.path = (
            f"{parts.path.rstrip('/')}/model/{quote(s.model_id, safe='')}"
            "/invoke-with-bidirectional-stream"
        )
        self.url = f"{parts.scheme}://{parts.netloc}{self.path}"
        self._ssl_context = ssl_context
        if self._ssl_context is None and self._tls and s.ca_bundle:
            self._ssl_context = client_context(cafile=s.ca_bundle)
        self.capabilities = ProviderCapabilities(
            server_vad=True,
            barge_in_truncation=False,
            tools=True,
            text_input=s.model_id == "amazon.nova-2-sonic-v1:0",
            speak_text=s.model_id == "amazon.nova-2-sonic-v1:0",
            transcripts=True,
            session_resumption=True,
            input_sample_rates=(INPUT_SAMPLE_RATE,),
            output_sample_rate=s.output_sample_rate,
            max_session_seconds=None,
        )

    def __repr__(self) -> str:
        return f"<AmazonNovaSonicProvider {self.settings.model_id} {self.settings.region}>"

    async def _open_session(self, ctx: ConversationContext) -> StreamingSession:
        conn = await H2Connection.connect(
            self._host,
            self._port,
            tls=self._tls,
            ssl_context=self._ssl_context,
            timeout=self.settings.connect_timeout,
            send_timeout=self.settings.send_timeout,
        )
        session = NovaSession(self, ctx, conn)
        try:
            await session.start()
        except BaseException:
            await conn.aclose()
            raise
        return session

    @classmethod
    def from_config(
        cls, config: S2SConfig, settings: NovaSettings | None
    ) -> AmazonNovaSonicProvider:
        return cls(config, settings)


register_provider(
    "amazon_nova",
    AmazonNovaSonicProvider.from_config,
    settings=NovaSettings,
    requires_api_key=False,
    description="Amazon Nova 2 Sonic on Bedrock (bidirectional HTTP/2)",
    credentials="AWS credential chain (env, profile, SSO, role), or explicit keys",
)
