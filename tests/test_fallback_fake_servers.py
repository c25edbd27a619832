"""Retry and fallback over real provider clients talking to the fake realtime servers:
rejected handshakes (429, 5xx), a drop mid-turn, a stall mid-reply, a malformed event.

The realtime client does not reconnect by itself (the retry layer is the one owner of
reconnects), so the wrappers under test are the ones that recover.  "Nothing lost" is checked on the servers'
own records of the audio each connection received.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from _realtime_helpers import read_until

from beluga_voice.providers.config import S2SConfig, with_provider_specific
from beluga_voice.providers.errors import ErrorCode
from beluga_voice.providers.events import (
    AudioChunk,
    Interrupted,
    ProviderSwitched,
    ResponseDone,
    SessionError,
    SessionReconnected,
)
from beluga_voice.providers.fallback import FallbackProvider, FallbackSettings
from beluga_voice.providers.registry import bare_provider
from beluga_voice.providers.retry import RetryingProvider
from beluga_voice.testing.fake_realtime import FakeRealtimeServer, Faults, Reply
from beluga_voice.testing.speech import tone

pytestmark = pytest.mark.anyio

RATE = 24000
STEP = RATE // 50 * 2
KEY = "sk-test-resilience-0123456789"
REPLY = Reply(tone(0.4, RATE, 500.0), "All good here")


def turn() -> list[bytes]:
    """One user turn at 24 kHz in 20 ms chunks: 0.5 s of tone, 0.6 s of silence."""
    pcm = tone(0.5, RATE, 300.0, 0.5) + bytes(RATE * 2 * 6 // 10)
    return [pcm[i : i + STEP] for i in range(0, len(pcm), STEP)]


def realtime(server: FakeRealtimeServer, **settings: Any):
    config = S2SConfig(
        api_key=KEY, timeout=5.0, max_retries=3, retry_delay=0.1, latency_target="high"
    )
    opts = {"base_url": server.url, **settings}
    return bare_provider("openai_realtime", config, with_provider_specific(**opts))


@asynccontextmanager
async def servers(*faults: Faults) -> AsyncIterator[list[FakeRealtimeServer]]:
    async with (
        FakeRealtimeServer(script=[REPLY], faults=faults[0]) as a,
        FakeRealtimeServer(script=[REPLY], faults=faults[1] if len(faults) > 1 else None) as b,
    ):
        yield [a, b]


def retrying(server: FakeRealtimeServer) -> RetryingProvider:
    inner = realtime(server)
    return RetryingProvider(inner, inner.config, rng=random.Random(3))


async def test_429_and_5xx_handshakes_are_retried_silently() -> None:
    async with (
        servers(Faults(reject_handshakes=[429, 503])) as (fake, _),
        await retrying(fake).start_streaming() as session,
    ):
        chunks = turn()
        for chunk in chunks:
            await session.send_audio(chunk)
        events = await read_until(session)
    assert fake.records.handshakes == 3 and fake.records.connections == 1
    assert not [e for e in events if isinstance(e, SessionError)]
    assert b"".join(e.audio for e in events if isinstance(e, AudioChunk)) == REPLY.audio
    assert fake.records.audio_bytes == sum(map(len, chunks))


async def test_drop_mid_user_turn_reconnects_and_replays_everything_unanswered() -> None:
    async with (
        servers(Faults()) as (fake, _),
        await retrying(fake).start_streaming() as session,
    ):
        chunks = turn()
        half = len(chunks) // 2
        for chunk in chunks[:half]:
            await session.send_audio(chunk)
        await fake.wait_for_connections(1)
        await fake.drop_all()
        for chunk in chunks[half:]:
            await session.send_audio(chunk)
        events = await read_until(session)
    [back] = [e for e in events if isinstance(e, SessionReconnected)]
    assert back.error is not None and back.error.is_retryable
    assert fake.records.connections == 2
    # The second connection heard the whole turn: nothing said before the drop was lost.
    assert fake.records.audio_per_connection[1] == sum(map(len, chunks))
    assert b"".join(e.audio for e in events if isinstance(e, AudioChunk)) == REPLY.audio


async def test_dead_primary_falls_back_with_the_whole_turn() -> None:
    dead = Faults(reject_handshakes=[500] * 20)
    async with servers(Faults(), Faults()) as (primary, backup):
        primary.faults = dead
        fb = FallbackProvider([retrying(primary), retrying(backup)])
        async with await fb.start_streaming() as session:
            chunks = turn()
            for chunk in chunks:
                await session.send_audio(chunk)
            events = await read_until(session)
    assert primary.records.connections == 0 and primary.records.handshakes == 4
    assert backup.records.audio_bytes == sum(map(len, chunks))
    assert b"".join(e.audio for e in events if isinstance(e, AudioChunk)) == REPLY.audio
    assert fb.breakers[0].failures == 1


async def test_stall_mid_reply_switches_to_the_backup() -> None:
    async with servers(Faults(stall_after_chunks_once=2), Faults()) as (primary, backup):
        settings = FallbackSettings(stall_timeout=0.3)
        fb = FallbackProvider([realtime(primary), realtime(backup)], settings=settings)
        async with await fb.start_streaming() as session:
            for chunk in turn():
                await session.send_audio(chunk)
            events = await read_until(session, ProviderSwitched)
    switch = events[-1]
    assert isinstance(switch, ProviderSwitched) and switch.reason == "stall"
    assert switch.error is not None and switch.error.code is ErrorCode.STREAM_TIMEOUT
    # Two chunks of the reply played, far under a second: flushed, and the turn is
    # answered again by the backup (never a silent cut).
    cut = events[-2]
    assert isinstance(cut, ResponseDone) and cut.status == "cancelled"
    assert isinstance(events[-3], Interrupted)
    assert backup.records.connections == 1


async def test_malformed_event_does_not_end_the_conversation() -> None:
    faults = Faults(malformed_after_update=["{this is not json", '{"type": 42}'])
    async with servers(faults) as (fake, _), await retrying(fake).start_streaming() as session:
        for chunk in turn():
            await session.send_audio(chunk)
        events = await read_until(session)
    assert not [e for e in events if isinstance(e, SessionError) and e.fatal]
    assert b"".join(e.audio for e in events if isinstance(e, AudioChunk)) == REPLY.audio
