"""Gemini on Vertex AI with google-auth credentials: the token is refreshed before it
expires, at every connection (a goAway's reconnect is a new handshake), and a refresh
that fails says which credentials to check."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest
from _gemini_helpers import CHUNK, events_until, of

from beluga_voice.providers.config import S2SConfig
from beluga_voice.providers.errors import ErrorCode, S2SError
from beluga_voice.providers.events import SessionReconnected
from beluga_voice.providers.gemini_live import GeminiLiveProvider, GeminiSettings
from beluga_voice.providers.gemini_live.credentials import REFRESH_MARGIN_S, TokenSource
from beluga_voice.testing.fake_gemini import FakeGeminiServer

pytestmark = pytest.mark.anyio

VERTEX = {"vertexai": True, "project": "p", "location": "us-central1"}


class ExpiringCredentials:
    """Stands in for ``google.auth.credentials.Credentials``: each refresh issues a new
    token that lives ``lifetime`` seconds (google-auth's naive UTC expiry)."""

    def __init__(self, lifetime: float, fail: Exception | None = None) -> None:
        self.lifetime = lifetime
        self.fail = fail
        self.token: str | None = None
        self.expiry: datetime.datetime | None = None
        self.issued: list[str] = []

    def refresh(self, request: Any) -> None:
        assert type(request).__name__ == "Request"  # google-auth's requests transport
        if self.fail is not None:
            raise self.fail
        self.issued.append(f"ya29.token-{len(self.issued) + 1}-abcdefghijkl")
        self.token = self.issued[-1]
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        self.expiry = now + datetime.timedelta(seconds=self.lifetime)


def vertex_provider(server: FakeGeminiServer, creds: ExpiringCredentials) -> GeminiLiveProvider:
    settings = GeminiSettings(base_url=server.url, **VERTEX)  # type: ignore[arg-type]
    return GeminiLiveProvider(S2SConfig(provider="gemini", timeout=5), settings, credentials=creds)


async def reconnect_once(provider: GeminiLiveProvider) -> None:
    async with provider.stream() as session:
        for _ in range(3):
            await session.send_audio(bytes(CHUNK))
        events = await events_until(session, SessionReconnected)
    assert len(of(events, SessionReconnected)) == 1


async def test_a_token_about_to_expire_is_refreshed_for_the_reconnect() -> None:
    creds = ExpiringCredentials(lifetime=REFRESH_MARGIN_S / 2)  # stale as soon as issued
    tokens = ["ya29.token-1-abcdefghijkl", "ya29.token-2-abcdefghijkl"]
    async with FakeGeminiServer(
        api_key=tokens, go_away_after_audio=2, go_away_grace_s=0.2
    ) as server:
        await reconnect_once(vertex_provider(server, creds))
    assert creds.issued == tokens
    assert [h["authorization"] for h in server.headers] == [f"Bearer {t}" for t in tokens]


async def test_a_fresh_token_is_reused() -> None:
    creds = ExpiringCredentials(lifetime=3600)
    token = "ya29.token-1-abcdefghijkl"
    async with FakeGeminiServer(
        api_key=token, go_away_after_audio=2, go_away_grace_s=0.2
    ) as server:
        await reconnect_once(vertex_provider(server, creds))
    assert creds.issued == [token]
    assert len(server.headers) == 2


async def test_a_refused_refresh_is_an_authentication_error() -> None:
    from google.auth.exceptions import RefreshError

    creds = ExpiringCredentials(3600, fail=RefreshError("invalid_grant: account not found"))
    async with FakeGeminiServer(api_key="x" * 10) as server:
        with pytest.raises(S2SError) as info:
            await vertex_provider(server, creds).start_streaming()
    assert info.value.code is ErrorCode.AUTHENTICATION_ERROR
    assert "invalid_grant" in info.value.message
    assert server.headers == []  # no handshake without a token


def test_a_service_account_file_is_loaded_with_the_cloud_scope(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "p",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "voice@p.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info))
    settings = GeminiSettings(credentials_file=str(path), **VERTEX)  # type: ignore[arg-type]
    from beluga_voice.providers.gemini_live.credentials import _load

    creds = _load(settings)
    assert creds.service_account_email == "voice@p.iam.gserviceaccount.com"  # type: ignore[attr-defined]
    assert "https://www.googleapis.com/auth/cloud-platform" in creds.scopes  # type: ignore[attr-defined]
    # With a key file, config.api_key is not used as a token.
    provider = GeminiLiveProvider(
        S2SConfig(provider="gemini", api_key="ya29.static-token-x"), settings
    )
    assert provider.tokens.static is None


async def test_an_api_key_or_static_token_is_sent_as_is() -> None:
    source = TokenSource(GeminiSettings(), static="AIzaSyTESTtestTESTtestTESTtest12345")
    assert await source.token(1.0) == "AIzaSyTESTtestTESTtestTESTtest12345"
    assert source.refreshes == 0
