"""Gemini Live: transparent reconnect across goAway, faults, and secrets kept out of sight."""

from __future__ import annotations

import logging
import random

import numpy as np
import pytest
from _gemini_helpers import CHUNK, KEY, SPEECH, events_until, make_provider, of, stream_then_text

from beluga_voice.providers.errors import ErrorCode, S2SError
from beluga_voice.providers.events import (
    AudioChunk,
    ResponseDone,
    SessionClosed,
    SessionError,
    SessionReconnected,
)
from beluga_voice.providers.retry import RetryingProvider
from beluga_voice.testing.fake_gemini import FakeGeminiServer, Faults, ScriptedTurn
from beluga_voice.testing.speech import tone

pytestmark = pytest.mark.anyio

REPLY = tone(0.2, 24000, hz=300.0)


def quiet_noise(seconds: float, seed: int = 7) -> bytes:
    """Distinct, below-VAD-threshold audio, so that any loss or reordering shows."""
    rng = np.random.default_rng(seed)
    return rng.integers(-60, 60, int(16000 * seconds), dtype="<i2").astype("<i2").tobytes()


async def test_transparent_resumption_across_go_away_loses_nothing() -> None:
    audio = quiet_noise(1.6)  # 80 messages; goAway after the 20th
    async with FakeGeminiServer(
        [ScriptedTurn(audio=REPLY)], api_key=KEY, go_away_after_audio=20, go_away_grace_s=0.5
    ) as server:
        session, events = await stream_then_text(
            server,
            audio,
            vertexai=True,
            project="p",
            location="us-central1",
            transparent_resumption=True,
        )
    assert session.reconnections == 1 and len(server.resumed_from) == 1
    [moved] = of(events, SessionReconnected)
    assert moved.provider == "gemini" and moved.error is None  # a planned move (goAway)
    assert moved.replayed_bytes > 0
    [state] = server.states
    assert state.connections == 2
    assert bytes(state.audio) == audio  # every byte, once, in order
    assert b"".join(c.audio for c in of(events, AudioChunk)) == REPLY
    assert server.headers[0]["authorization"] == f"Bearer {KEY}"
    assert server.violations == []


async def test_resumption_without_index_replays_a_margin_and_loses_nothing() -> None:
    audio = quiet_noise(1.6, seed=3)
    async with FakeGeminiServer(
        [ScriptedTurn(audio=REPLY)], api_key=KEY, go_away_after_audio=20, go_away_grace_s=0.5
    ) as server:
        session, events = await stream_then_text(server, audio)
    assert session.reconnections == 1
    [(_, covered)] = server.resumed_from
    [state] = server.states
    consumed = bytes(state.audio)
    # What the handle covered, then a replay that starts at or before that point.
    assert consumed[:covered] == audio[:covered]
    assert len(consumed) >= len(audio)
    assert consumed.endswith(audio[covered:])
    assert of(events, ResponseDone)[-1].status == "completed"
    assert server.violations == []


async def test_go_away_without_resumption_ends_the_session_cleanly() -> None:
    async with (
        FakeGeminiServer(api_key=KEY, go_away_after_audio=2, go_away_grace_s=0.1) as server,
        make_provider(server, session_resumption=False).stream() as session,
    ):
        for _ in range(3):
            await session.send_audio(bytes(CHUNK))
        events = await events_until(session, SessionClosed)
    closed = events[-1]
    assert isinstance(closed, SessionClosed)
    assert closed.error is not None and closed.error.code is ErrorCode.STREAM_CLOSED
    assert "sessionResumption" not in server.setups[0]


async def test_a_dropped_connection_is_resumed_and_the_cut_turn_answered_again() -> None:
    """The retry layer (the one owner of reconnects) resumes with the server's handle;
    the reply the drop cut early is flushed and its turn asked again."""
    long_reply = tone(1.0)
    faults = Faults(drop_after_chunks=2)  # on the first connection only
    async with FakeGeminiServer(
        [ScriptedTurn(audio=long_reply)], api_key=KEY, faults=faults
    ) as server:
        inner = make_provider(server, config={"retry_delay": 0.1})
        async with RetryingProvider(inner, rng=random.Random(2)).stream() as session:
            for _ in range(10):  # quiet audio: the server hands out resumption handles
                await session.send_audio(bytes(CHUNK))
            await session.send_text("go")
            cut = await events_until(session, SessionReconnected)
            events = await events_until(session)
    assert of(cut, ResponseDone)[-1].status == "cancelled"  # heard < 1 s: asked again
    [moved] = of(cut, SessionReconnected)
    assert moved.attempt == 1
    assert moved.error is not None and moved.error.code is ErrorCode.NETWORK_ERROR
    assert b"".join(c.audio for c in of(events, AudioChunk)) == long_reply
    assert len(server.resumed_from) == 1 and len(server.headers) == 2
    assert server.violations == []


# -- faults -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("faults", "code"),
    [
        (Faults(reject_status=401), ErrorCode.AUTHENTICATION_ERROR),
        (Faults(reject_status=429), ErrorCode.RATE_LIMIT),
        (Faults(reject_status=503), ErrorCode.MODEL_NOT_AVAILABLE),
        (Faults(close_on_setup=(1011, "Internal error encountered.")), ErrorCode.INTERNAL_ERROR),
        (
            Faults(close_on_setup=(1008, "models/x is not found for API version v1beta")),
            ErrorCode.INVALID_MODEL,
        ),
        (Faults(stall_before_setup_complete=True), ErrorCode.TIMEOUT),
    ],
)
async def test_connect_faults_are_classified(faults: Faults, code: ErrorCode) -> None:
    async with FakeGeminiServer(api_key=KEY, faults=faults) as server:
        with pytest.raises(S2SError) as info:
            await make_provider(server, stall_timeout_s=0.3).start_streaming()
    assert info.value.code is code
    assert info.value.op == "connect"


async def test_a_wrong_key_is_an_authentication_error() -> None:
    async with FakeGeminiServer(api_key="the-right-key") as server:
        with pytest.raises(S2SError) as info:
            await make_provider(server).start_streaming()
    assert info.value.code is ErrorCode.AUTHENTICATION_ERROR
    assert "API key not valid" in str(info.value)


async def test_unknown_method_path_and_dead_port() -> None:
    async with FakeGeminiServer(api_key=KEY) as server:
        with pytest.raises(S2SError) as info:
            await make_provider(server, api_version="v9").start_streaming()
        assert info.value.code is ErrorCode.NOT_FOUND
        url = server.url
    provider = make_provider(server)
    provider.settings = provider.settings.model_copy(update={"base_url": url})
    with pytest.raises(S2SError) as info:
        await provider.start_streaming()
    assert info.value.code is ErrorCode.NETWORK_ERROR


@pytest.mark.parametrize(
    ("faults", "code"),
    [
        (
            Faults(close_after_chunks=(2, 1011, "You exceeded your current quota")),
            ErrorCode.QUOTA_EXCEEDED,
        ),
        (
            Faults(close_after_chunks=(2, 1007, "Request contains an invalid argument.")),
            ErrorCode.INVALID_REQUEST,
        ),
        (Faults(stall_after_chunks=2), ErrorCode.STREAM_TIMEOUT),
        (Faults(malformed_after_chunks=1), ErrorCode.MALFORMED_RESPONSE),
    ],
)
async def test_mid_reply_faults_end_the_session_with_a_clear_error(
    faults: Faults, code: ErrorCode
) -> None:
    async with (
        FakeGeminiServer([ScriptedTurn(audio=tone(1.0))], api_key=KEY, faults=faults) as server,
        make_provider(server, stall_timeout_s=0.3).stream() as session,
    ):
        await session.send_text("go")
        events = await events_until(session, SessionClosed)
    errors = of(events, SessionError)
    assert len(errors) == 1 and errors[0].fatal and errors[0].error.code is code
    closed = events[-1]
    assert isinstance(closed, SessionClosed) and closed.error is errors[0].error
    assert len(of(events, AudioChunk)) >= 1  # the reply had begun
    assert server.violations == []


# -- secrets ------------------------------------------------------------------------------


async def test_the_key_never_shows_in_logs_reprs_or_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # the root, for the websockets handshake logger
    caplog.set_level(logging.DEBUG, logger="beluga_voice")  # whatever level a test left
    async with FakeGeminiServer([ScriptedTurn(audio=REPLY)], api_key=KEY) as server:
        provider = make_provider(server)
        async with provider.stream() as session:
            await session.send_audio(SPEECH[:CHUNK])
            await session.send_text("hi")
            await events_until(session)
            texts = [repr(provider), repr(session), repr(provider.config), str(provider.config)]
        async with FakeGeminiServer(api_key="another-key") as wrong:
            with pytest.raises(S2SError) as info:
                await make_provider(wrong).start_streaming()
    texts += [str(info.value), repr(info.value), caplog.text]
    assert "x-goog-api-key" in caplog.text.lower()  # the handshake was logged...
    for text in texts:
        assert KEY not in text  # ...but never the key
