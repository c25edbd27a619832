"""Shared helpers of the openai_realtime / grok tests (not a test module)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio

from beluga_voice.providers.base import S2SProvider, StreamingSession
from beluga_voice.providers.config import S2SConfig, with_provider_specific
from beluga_voice.providers.events import (
    AudioChunk,
    ResponseDone,
    SessionClosed,
    SessionEvent,
)
from beluga_voice.providers.openai_realtime import RealtimeProvider
from beluga_voice.providers.registry import bare_provider
from beluga_voice.providers.retry import RetryingProvider
from beluga_voice.testing.fake_realtime import FakeRealtimeServer
from beluga_voice.testing.speech import tone

KEY = "sk-test-0123456789abcdef"


def speech(rate: int = 24000) -> bytes:
    """Half a second of loud tone ("speech") and 0.6 s of silence: one user turn."""
    return tone(0.5, rate, 300.0, 0.5) + bytes(rate * 2 * 6 // 10)


@asynccontextmanager
async def conversation(
    settings: dict[str, Any] | None = None,
    *,
    flavour: str = "openai",
    retries: int | None = None,
    **fake: Any,
) -> AsyncIterator[tuple[FakeRealtimeServer, StreamingSession]]:
    """A fake server of ``flavour`` and an open session of the matching provider; with
    ``retries``, under the retry layer (the one owner of reconnects) with that many."""
    name = "grok" if flavour == "grok" else "openai_realtime"
    async with FakeRealtimeServer(flavour, **fake) as server:  # type: ignore[arg-type]
        provider: S2SProvider = provider_for(server, name, **(settings or {}))
        if retries is not None:
            config = provider.config.model_copy(update={"max_retries": retries, "retry_delay": 0.1})
            provider = RetryingProvider(provider, config, rng=random.Random(0))
        async with provider.stream() as session:
            yield server, session


def provider_for(
    fake: FakeRealtimeServer, name: str = "openai_realtime", key: str = KEY, **settings: Any
) -> RealtimeProvider:
    config = S2SConfig(api_key=key, timeout=10.0)
    opts = {"base_url": fake.url, **settings}
    provider = bare_provider(name, config, with_provider_specific(**opts))
    assert isinstance(provider, RealtimeProvider)
    return provider


async def send_chunked(session: StreamingSession, audio: bytes, rate: int = 24000) -> None:
    step = rate // 50 * 2
    for i in range(0, len(audio), step):
        await session.send_audio(audio[i : i + step])


async def until(
    session: StreamingSession,
    stop: type | Sequence[type] = ResponseDone,
    *,
    timeout: float = 5.0,
) -> list[SessionEvent]:
    """Events up to and including the first of type ``stop`` (or the session's end)."""
    kinds = tuple(stop) if isinstance(stop, Sequence) else (stop,)
    events: list[SessionEvent] = []
    with anyio.fail_after(timeout):
        async for event in session:
            events.append(event)
            if isinstance(event, (kinds, SessionClosed)):
                break
    return events


def reply_audio(events: Sequence[SessionEvent]) -> bytes:
    return b"".join(e.audio for e in events if isinstance(e, AudioChunk))


async def read_until(
    session: StreamingSession, kind: type = ResponseDone, timeout: float = 10
) -> list[SessionEvent]:
    """Events up to the first of type ``kind`` (for ``ResponseDone``: a completed one)."""
    events: list[SessionEvent] = []
    with anyio.fail_after(timeout):
        async for event in session:
            events.append(event)
            if isinstance(event, kind) and (
                not isinstance(event, ResponseDone) or event.status == "completed"
            ):
                break
    return events
