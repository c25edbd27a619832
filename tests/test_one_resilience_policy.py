"""One resilience policy (issue 16.2): one owner of reconnects, one backoff, one journal.

The provider shells do not reconnect by themselves, so a dead primary is tried exactly
``1 + max_retries`` times (counted at the fake server) before the fallback takes over; a
dropped Gemini session is resumed by the retry layer with the server's handle and gets
from the journal only the audio the handle lacks (each byte once); goAway rotation, the
protocol's own, stays seamless.
"""

from __future__ import annotations

import random

import anyio
import numpy as np
import pytest
from _gemini_helpers import CHUNK, KEY, events_until, make_provider, of
from _realtime_helpers import read_until

from beluga_voice.conversation import new_conversation_context
from beluga_voice.providers.base import Resumption
from beluga_voice.providers.config import S2SConfig, with_provider_specific
from beluga_voice.providers.errors import ErrorCode
from beluga_voice.providers.events import (
    AudioChunk,
    ProviderSwitched,
    ResponseDone,
    SessionClosed,
    SessionError,
    SessionEvent,
    SessionReconnected,
)
from beluga_voice.providers.fallback import FallbackProvider
from beluga_voice.providers.gemini_live import GeminiLiveSession
from beluga_voice.providers.registry import bare_provider
from beluga_voice.providers.retry import RetryingProvider
from beluga_voice.testing import fake_gemini, fake_realtime
from beluga_voice.testing.speech import tone

pytestmark = pytest.mark.anyio

MAX_RETRIES = 2
REPLY = tone(0.6, 24000, hz=300.0)


def quiet(seconds: float, seed: int) -> bytes:
    """Distinct audio below the fake's VAD threshold: any loss, repeat or reorder shows."""
    rng = np.random.default_rng(seed)
    return rng.integers(-60, 60, int(16000 * seconds), dtype="<i2").astype("<i2").tobytes()


def retrying_gemini(server: fake_gemini.FakeGeminiServer, **settings: object) -> RetryingProvider:
    config = {"max_retries": MAX_RETRIES, "retry_delay": 0.1}
    inner = make_provider(server, config=config, **settings)
    return RetryingProvider(inner, rng=random.Random(5))


async def test_a_dead_gemini_primary_falls_back_after_exactly_max_retries_attempts() -> None:
    faults = fake_gemini.Faults(drop_after_chunks=2)  # the reply is cut on connection 1
    async with fake_gemini.FakeGeminiServer(
        [fake_gemini.ScriptedTurn(audio=REPLY)], api_key=KEY, faults=faults, resumption_every=2
    ) as server:
        mock = bare_provider("mock", S2SConfig(provider="mock", max_retries=MAX_RETRIES))
        both = FallbackProvider([retrying_gemini(server), RetryingProvider(mock)])
        async with await both.start_streaming() as session:
            for _ in range(10):  # quiet audio: the server hands out resumption handles
                await session.send_audio(bytes(CHUNK))
            server.faults.reject_status = 503  # from now on the primary is dead
            await session.send_text("go")
            events = await read_until(session, ProviderSwitched)
    [switched] = of(events, ProviderSwitched)
    assert switched.reason == "error" and switched.to_provider == "mock"
    # The first connection, then one per retry: no second count of the shell's own.
    assert len(server.headers) == 1 + MAX_RETRIES


async def test_a_dead_openai_primary_falls_back_after_exactly_max_retries_attempts() -> None:
    reply = fake_realtime.Reply(tone(0.4, 24000, 500.0), "fine")
    async with (
        fake_realtime.FakeRealtimeServer(script=[reply]) as dead,
        fake_realtime.FakeRealtimeServer(script=[reply]) as alive,
    ):
        config = S2SConfig(api_key="sk-test-0123456789", max_retries=MAX_RETRIES, retry_delay=0.1)
        providers = [
            RetryingProvider(
                bare_provider("openai_realtime", config, with_provider_specific(base_url=s.url)),
                rng=random.Random(1),
            )
            for s in (dead, alive)
        ]
        async with await FallbackProvider(providers).start_streaming() as session:
            await session.send_audio(bytes(960))
            await dead.wait_for_connections(1)
            dead.faults.reject_handshakes = [503] * 10
            await dead.drop_all()
            events = await read_until(session, ProviderSwitched)
    assert of(events, ProviderSwitched)[0].to_provider == "openai_realtime"
    assert dead.records.handshakes == 1 + MAX_RETRIES
    assert alive.records.connections == 1


async def test_a_bare_gemini_session_reports_a_drop_and_offers_its_handle() -> None:
    audio = quiet(0.4, seed=11)
    faults = fake_gemini.Faults(drop_after_chunks=1)
    async with fake_gemini.FakeGeminiServer(
        [fake_gemini.ScriptedTurn(audio=REPLY)], api_key=KEY, faults=faults, resumption_every=2
    ) as server:
        provider = make_provider(
            server, vertexai=True, project="p", location="l", transparent_resumption=True
        )
        async with await provider.start_streaming() as session:
            assert isinstance(session, GeminiLiveSession)
            for i in range(0, len(audio), CHUNK):
                await session.send_audio(audio[i : i + CHUNK])
            await session.send_text("go")
            events = await events_until(session, SessionClosed)
            resume = session.resumption()
    closed = events[-1]
    assert isinstance(closed, SessionClosed) and closed.error is not None
    assert closed.error.is_retryable  # the owner of reconnects decides, not the shell
    assert len(server.headers) == 1  # no reconnect of its own
    assert isinstance(resume, Resumption) and resume.provider == "gemini"
    assert resume.handle.startswith("handle-")
    assert 0 < resume.audio_ms * 32 <= len(audio)  # what the handle holds of the input


async def test_the_users_audio_is_sent_exactly_once_across_a_resumed_reconnect() -> None:
    audio = quiet(1.2, seed=4)
    faults = fake_gemini.Faults(drop_after_chunks=1)
    async with fake_gemini.FakeGeminiServer(
        [fake_gemini.ScriptedTurn(audio=REPLY), fake_gemini.ScriptedTurn(audio=REPLY)],
        api_key=KEY,
        faults=faults,
        resumption_every=7,
    ) as server:
        provider = retrying_gemini(
            server, vertexai=True, project="p", location="l", transparent_resumption=True
        )
        async with await provider.start_streaming() as session:
            half = len(audio) // 2 // CHUNK * CHUNK
            for i in range(0, half, CHUNK):
                await session.send_audio(audio[i : i + CHUNK])
            await session.send_text("go")  # its reply is cut: the connection drops
            cut = await read_until(session, SessionReconnected)
            for i in range(half, len(audio), CHUNK):
                await session.send_audio(audio[i : i + CHUNK])
            await session.send_text("and now?")
            events = await read_until(session, ResponseDone)
    [back] = of(cut, SessionReconnected)
    assert back.error is not None and back.error.code is ErrorCode.NETWORK_ERROR
    assert len(server.resumed_from) == 1 and len(server.headers) == 2
    [state] = server.states  # one logical session, resumed
    assert bytes(state.audio) == audio  # every byte, once, in order
    sent = sum(len(pcm) for _, pcm in server.audio_in)
    (_, covered) = server.resumed_from[0]
    assert sent == len(audio) + (half - covered)  # only what the handle lacked, again
    assert of(events, ResponseDone)[-1].status == "completed"
    assert not [e for e in cut + events if isinstance(e, SessionError) and e.fatal]
    assert server.violations == []


async def test_go_away_rotation_under_the_retry_layer_is_seamless() -> None:
    audio = quiet(1.6, seed=8)
    async with fake_gemini.FakeGeminiServer(
        [fake_gemini.ScriptedTurn(audio=REPLY)],
        api_key=KEY,
        go_away_after_audio=20,
        go_away_grace_s=0.5,
    ) as server:
        provider = retrying_gemini(
            server, vertexai=True, project="p", location="l", transparent_resumption=True
        )
        events: list[SessionEvent] = []
        async with await provider.start_streaming() as session:

            async def read() -> None:
                events.extend(await read_until(session, ResponseDone))

            async with anyio.create_task_group() as tg:
                tg.start_soon(read)
                for i in range(0, len(audio), CHUNK):
                    await session.send_audio(audio[i : i + CHUNK])
                    await anyio.sleep(0.002)  # a microphone's pace, not a synchronisation
                await session.send_text("that is all")
    [moved] = of(events, SessionReconnected)
    assert moved.attempt == 0 and moved.error is None  # planned: not a failure, not a retry
    assert not of(events, SessionError)
    assert len(server.headers) == 2 and len(server.resumed_from) == 1
    [state] = server.states
    assert bytes(state.audio) == audio
    assert b"".join(c.audio for c in of(events, AudioChunk)) == REPLY


async def test_a_refused_handle_starts_afresh() -> None:
    async with fake_gemini.FakeGeminiServer(api_key=KEY) as server:
        provider = make_provider(server)
        stale = Resumption("gemini", "handle-that-expired", 100.0)
        session = await provider.resume_streaming(new_conversation_context(), stale)
        async with session:
            assert session.resumed is None
    assert server.setups[-1].get("sessionResumption", {}).get("handle") is None


def test_the_shells_have_no_reconnect_settings_left() -> None:
    from beluga_voice.providers.gemini_live import GeminiSettings
    from beluga_voice.providers.openai_realtime.settings import RealtimeSettings

    for model, key in ((GeminiSettings, "max_reconnects"), (RealtimeSettings, "reconnect_delay")):
        with pytest.raises(ValueError, match="Extra inputs"):
            model.model_validate({key: 1})
