"""Shared helpers of the openai_live tests (not a test module)."""

# events_until is re-exported for the openai_live test modules.

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from _gemini_helpers import events_until, send_pcm

from beluga_voice.providers.base import StreamingSession
from beluga_voice.providers.config import S2SConfig, with_provider_specific
from beluga_voice.providers.openai_live import OpenAILiveProvider
from beluga_voice.providers.registry import bare_provider
from beluga_voice.testing.fake_live import FakeLiveServer
from beluga_voice.testing.speech import tone

KEY = "sk-test-live-0123456789abcdef"


def speech(rate: int = 24000) -> bytes:
    """Half a second of loud tone ("speech") and 0.6 s of silence: one user turn."""
    return tone(0.5, rate, 300.0, 0.5) + bytes(rate * 2 * 6 // 10)


def provider_for(
    fake: FakeLiveServer, *, reasoning_mode: str = "built-in", **settings: Any
) -> OpenAILiveProvider:
    config = S2SConfig(api_key=KEY, timeout=10.0, max_retries=0, reasoning_mode=reasoning_mode)
    opts = {"base_url": fake.url, "reply_end_silence_ms": 300, **settings}
    provider = bare_provider("openai_live", config, with_provider_specific(**opts))
    assert isinstance(provider, OpenAILiveProvider)
    return provider


@asynccontextmanager
async def conversation(
    settings: dict[str, Any] | None = None, **fake: Any
) -> AsyncIterator[tuple[FakeLiveServer, StreamingSession]]:
    async with (
        FakeLiveServer(api_key=KEY, **fake) as server,
        provider_for(server, **(settings or {})).stream() as session,
    ):
        yield server, session


async def send_speech(session: StreamingSession, rate: int = 24000) -> None:
    await send_pcm(session, speech(rate), rate // 50 * 2)


__all__ = ["KEY", "conversation", "events_until", "provider_for", "send_speech", "speech"]
