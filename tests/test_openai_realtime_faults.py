"""openai_realtime under faults: drops, stalls, rejected handshakes, error events, garbage,
session rotation, and secrets that must never leak."""

from __future__ import annotations

import logging

import anyio
import pytest
from _realtime_helpers import (
    KEY,
    conversation,
    provider_for,
    reply_audio,
    send_chunked,
    speech,
    until,
)

from beluga_voice.providers.errors import ErrorCode, S2SError
from beluga_voice.providers.events import (
    ResponseDone,
    SessionClosed,
    SessionError,
    SessionReconnected,
)
from beluga_voice.providers.openai_realtime import RealtimeSession
from beluga_voice.providers.retry import RetryingSession
from beluga_voice.testing.fake_realtime import FakeRealtimeServer, Faults, Reply
from beluga_voice.testing.speech import tone

pytestmark = pytest.mark.anyio

REPLY = Reply(tone(0.4, 24000, 500.0), "All good here")


def errors(events: list[object]) -> list[SessionError]:
    return [e for e in events if isinstance(e, SessionError)]


async def test_a_drop_ends_a_bare_session_with_a_retryable_error() -> None:
    """The shell does not reconnect by itself: the retry layer owns reconnects."""
    faults = Faults(drop_after_chunks_once=1)
    async with conversation(script=[REPLY], faults=faults) as (fake, session):
        await session.send_text("Hello?")
        events = await until(session, SessionClosed)
    closed = events[-1]
    assert isinstance(closed, SessionClosed) and closed.error is not None
    assert closed.error.code is ErrorCode.NETWORK_ERROR and closed.error.is_retryable
    assert [e.fatal for e in errors(events)] == [True]
    assert fake.records.handshakes == 1


async def test_drop_mid_reply_reconnects_and_reseeds() -> None:
    faults = Faults(drop_after_chunks_once=2)
    async with conversation(
        retries=2, script=[REPLY], user_transcripts=["Call me Ada."], faults=faults
    ) as (fake, session):
        await send_chunked(session, speech())
        first = await until(session)  # the reply that the drop cut short
        again = await until(session, SessionReconnected)
        second = await until(session)
        assert isinstance(session, RetryingSession) and session.reconnects == 1
    assert not errors(first)
    cut = first[-1]  # heard less than 1 s: flushed, and the turn is answered again
    assert isinstance(cut, ResponseDone) and (cut.status, cut.reason) == ("cancelled", "reconnect")
    back = again[-1]
    assert isinstance(back, SessionReconnected) and back.attempt == 1
    assert back.error is not None and back.error.code is ErrorCode.NETWORK_ERROR
    assert reply_audio(second) == REPLY.audio  # asked again, answered in full
    assert fake.records.connections == 2
    # The new connection heard the unanswered turn again, once.
    assert fake.records.audio_per_connection[1] == len(speech())
    assert fake.records.violations == []


async def test_drop_while_the_user_speaks_replays_unacknowledged_audio() -> None:
    async with conversation(retries=2, script=[REPLY], pace=1.0) as (fake, session):
        half = speech()[:24000]  # 0.5 s of tone: speech started, not yet committed
        await send_chunked(session, half)
        await fake.drop_all()
        events = await until(session, SessionReconnected)
        back = events[-1]
        assert isinstance(back, SessionReconnected) and back.replayed_bytes == len(half)
        await send_chunked(session, speech()[24000:])
        reply = await until(session)
    assert reply_audio(reply) == REPLY.audio
    # The new connection heard the whole utterance: the unacknowledged half, replayed,
    # and the rest.
    assert fake.records.audio_per_connection[1] == len(speech())


async def test_stalled_reply_times_out_and_recovers() -> None:
    faults = Faults(stall_after_chunks_once=1)
    settings = {"response_timeout": 0.3}
    async with conversation(settings, retries=2, script=[REPLY], faults=faults) as (
        fake,
        session,
    ):
        await session.send_text("Hello?")
        first = await until(session)
        again = await until(session, SessionReconnected)
        second = await until(session)
    back = again[-1]
    assert isinstance(back, SessionReconnected) and back.error is not None
    assert back.error.code is ErrorCode.STREAM_TIMEOUT
    assert isinstance(first[-1], ResponseDone) and first[-1].status == "cancelled"
    assert reply_audio(second) == REPLY.audio
    assert fake.records.connections == 2


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (429, ErrorCode.RATE_LIMIT),
        (500, ErrorCode.INTERNAL_ERROR),
        (503, ErrorCode.MODEL_NOT_AVAILABLE),
        (401, ErrorCode.AUTHENTICATION_ERROR),
    ],
)
async def test_rejected_handshake_is_a_clear_error(status: int, code: ErrorCode) -> None:
    async with FakeRealtimeServer(faults=Faults(reject_handshakes=[status])) as fake:
        with pytest.raises(S2SError) as info:
            await provider_for(fake).start_streaming()
    assert info.value.code is code and info.value.op == "connect"
    assert info.value.details["status"] == status


async def test_wrong_key_is_an_authentication_error_without_the_key() -> None:
    async with FakeRealtimeServer(api_key="sk-the-right-one-123456") as fake:
        with pytest.raises(S2SError) as info:
            await provider_for(fake, key="sk-the-wrong-one-654321").start_streaming()
    assert info.value.code is ErrorCode.AUTHENTICATION_ERROR
    assert "sk-the-wrong-one-654321" not in str(info.value) + repr(info.value)


async def test_reconnects_give_up_after_max_retries() -> None:
    faults = Faults(drop_after_chunks_once=1)
    async with conversation(retries=2, script=[REPLY], faults=faults) as (fake, session):
        fake.faults.reject_handshakes = [503, 503]
        await session.send_text("Hello?")
        events = await until(session, SessionClosed)
    closed = events[-1]
    assert isinstance(closed, SessionClosed) and closed.error is not None
    assert closed.error.code is ErrorCode.MODEL_NOT_AVAILABLE
    assert [e.fatal for e in errors(events)] == [True]
    assert fake.records.handshakes == 3
    assert session.closed


async def test_non_fatal_error_event_keeps_the_session() -> None:
    faults = Faults(
        errors_after_update=[
            {"type": "rate_limit_error", "code": "rate_limit_exceeded", "message": "slow down"}
        ]
    )
    async with conversation(script=[REPLY], faults=faults) as (_fake, session):
        await session.send_text("Hi")
        events = await until(session)
    (err,) = errors(events)
    assert err.error.code is ErrorCode.RATE_LIMIT and not err.fatal
    assert err.error.is_retryable
    assert reply_audio(events) == REPLY.audio


async def test_fatal_error_event_closes_the_session() -> None:
    faults = Faults(
        errors_after_update=[
            {"type": "insufficient_quota", "code": "insufficient_quota", "message": "no credit"}
        ]
    )
    async with conversation(faults=faults) as (fake, session):
        events = await until(session, SessionClosed)
        assert session.closed
    (err,) = errors(events)
    assert err.fatal and err.error.code is ErrorCode.QUOTA_EXCEEDED
    closed = events[-1]
    assert isinstance(closed, SessionClosed) and closed.error is err.error
    assert fake.records.connections == 1  # fatal: no reconnect attempt


async def test_malformed_frames_are_reported_and_ignored() -> None:
    faults = Faults(malformed_after_update=["{oops", "[1, 2]", '{"type": "response.done"}'])
    async with conversation(script=[REPLY], faults=faults) as (_fake, session):
        await session.send_text("Hi")
        events = await until(session)
    bad = errors(events)
    assert len(bad) == 3 and all(e.error.code is ErrorCode.MALFORMED_RESPONSE for e in bad)
    assert not any(e.fatal for e in bad)
    assert reply_audio(events) == REPLY.audio


async def test_session_limit_rotates_to_a_fresh_connection() -> None:
    settings = {"max_session_seconds": 0.2}
    script = [REPLY, Reply(tone(0.2, 24000, 800.0), "Second answer")]
    async with conversation(settings, script=script) as (fake, session):
        await session.send_text("My name is Ada.")
        first = await until(session)
        rotated = await until(session, SessionReconnected)
        assert rotated == [SessionReconnected("openai_realtime", 0, None, 0)]
        await session.send_text("What is my name?")
        second = await until(session)
        assert isinstance(session, RealtimeSession) and session.rotations >= 1
    assert reply_audio(first) == REPLY.audio
    assert reply_audio(second) == script[1].audio
    assert not errors(second)
    # The fresh connection was seeded with the first exchange before the new question.
    texts = [i["content"][0].get("text") for i in fake.records.items if i.get("type") == "message"]
    assert texts[:4] == ["My name is Ada.", "My name is Ada.", "All good here", "What is my name?"]


async def test_server_session_expiry_moves_to_a_new_connection() -> None:
    async with conversation(script=[REPLY]) as (fake, session):
        await fake.send_error("session_expired", "Your session hit the maximum duration")
        await session.send_text("Still there?")
        events = await until(session)
        assert isinstance(session, RealtimeSession) and session.rotations == 1
    assert not errors(events)
    assert any(isinstance(e, SessionReconnected) and e.attempt == 0 for e in events)
    assert reply_audio(events) == REPLY.audio
    assert fake.records.connections == 2


async def test_the_key_never_reaches_logs_reprs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="beluga_voice")  # other tests may have raised it
    async with FakeRealtimeServer(api_key=KEY, script=[REPLY]) as fake:
        provider = provider_for(fake)
        async with provider.stream() as session:
            await session.send_text("Hi")
            await until(session)
            texts = [repr(provider), repr(session), repr(provider.config), str(provider.config)]
        fake.faults.reject_handshakes = [401]
        with pytest.raises(S2SError) as info:
            await provider.start_streaming()
    assert fake.records.connections == 1  # the key was sent and accepted
    # The handshake was logged (at debug level), with the token masked.
    assert "Authorization: Bearer ***" in caplog.text
    for text in [caplog.text, *texts, str(info.value), repr(info.value)]:
        assert KEY not in text


async def test_a_policy_close_is_fatal_without_reconnecting() -> None:
    async with conversation(script=[REPLY]) as (fake, session):
        await fake.close_all(1008, "policy violation")
        events = await until(session, SessionClosed)
    closed = events[-1]
    assert isinstance(closed, SessionClosed) and closed.error is not None
    assert closed.error.code is ErrorCode.AUTHORIZATION_ERROR
    assert "1008" in str(closed.error)
    assert fake.records.connections == 1


async def test_sending_after_close_is_a_clear_error() -> None:
    async with conversation() as (_fake, session):
        pass
    for op in (session.send_audio(bytes(960)), session.send_text("hi"), session.end_turn()):
        with pytest.raises(S2SError) as info:
            await op
        assert info.value.code is ErrorCode.STREAM_CLOSED


async def test_audio_sent_during_a_rotation_goes_to_the_new_connection() -> None:
    settings = {"max_session_seconds": 0.3}
    chunk = tone(0.02, 24000, 300.0, 0.01)  # quiet: no speech detected, nothing committed
    async with conversation(settings, update_delay=0.2) as (fake, session):
        rotated: list[object] = []
        async with anyio.create_task_group() as tg:

            async def read() -> None:
                rotated.extend(await until(session, SessionReconnected))

            tg.start_soon(read)
            await fake.wait_for_connections(2)  # rotating: the new session is not ready yet
            for _ in range(5):
                await session.send_audio(chunk)
        assert isinstance(rotated[-1], SessionReconnected)
    old, new = fake.records.audio_per_connection
    assert old == 0  # nothing went to the connection being replaced
    assert new == 5 * len(chunk)


# -- a refused setup, and the service's own words (issue 24, items 2 and 3) ----------------


@pytest.mark.parametrize("flavour", ["openai", "grok"])
async def test_a_refused_session_update_fails_at_once_with_the_services_message(
    flavour: str,
) -> None:
    refusal = {
        "type": "invalid_request_error",
        "code": "invalid_value",
        "message": "Invalid value: 'robot'. Supported values are: 'eve', 'ara'.",
        "param": "session.voice",
    }
    async with FakeRealtimeServer(flavour, faults=Faults(reject_session_update=refusal)) as fake:  # type: ignore[arg-type]
        name = "grok" if flavour == "grok" else "openai_realtime"
        provider = provider_for(fake, name, open_timeout=3.0)
        started = anyio.current_time()
        with pytest.raises(S2SError) as info:
            await provider.start_streaming()
        elapsed = anyio.current_time() - started
    error = info.value
    assert error.code is ErrorCode.INVALID_CONFIG and not error.is_retryable
    assert "Invalid value: 'robot'" in str(error) and error.op == "connect"
    assert error.details["param"] == "session.voice"
    assert elapsed < 1.0  # at once, not after open_timeout
    assert fake.records.connections == 1  # not retried
    assert provider.limiter.in_use == 0


async def test_a_voice_openai_refuses_is_reported_not_waited_for() -> None:
    async with FakeRealtimeServer() as fake:
        with anyio.fail_after(2), pytest.raises(S2SError) as info:
            await provider_for(fake, voice="robot").start_streaming()
    assert info.value.code is ErrorCode.INVALID_CONFIG
    assert "Supported values are" in str(info.value)


@pytest.mark.parametrize("flavour", ["openai", "grok"])
async def test_a_wrong_key_keeps_the_services_message_redacted(flavour: str) -> None:
    name = "grok" if flavour == "grok" else "openai_realtime"
    wrong = "sk-the-wrong-one-654321" if flavour == "openai" else "xai-the-wrong-one-654321"
    async with FakeRealtimeServer(flavour, api_key="sk-the-right-one-123456") as fake:  # type: ignore[arg-type]
        with pytest.raises(S2SError) as info:
            await provider_for(fake, name, key=wrong).start_streaming()
    error = info.value
    assert error.code is ErrorCode.AUTHENTICATION_ERROR and error.details["status"] == 401
    assert "Incorrect API key provided" in str(error)
    assert wrong not in str(error) + repr(error) and "654321" not in str(error)


async def test_a_server_that_stops_reading_is_dropped_after_send_timeout() -> None:
    """Issue 14, item 8: every network wait has a deadline, writes included.  A write
    stuck for send_timeout drops the connection; the session reconnects."""
    async with conversation({"send_timeout": 0.3}, retries=2, script=[REPLY]) as (
        fake,
        session,
    ):
        deaf = list(fake._live)
        for conv in deaf:
            conv.ws.transport.pause_reading()  # the server stops reading
        chunk = tone(5.0, 24000, 300.0, 0.001)  # quiet audio, 5 s a chunk
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                reader: list[object] = []

                async def read() -> None:
                    reader.extend(await until(session, SessionReconnected, timeout=10))
                    tg.cancel_scope.cancel()

                tg.start_soon(read)
                while True:  # fills the socket buffers, then blocks: the deadline cuts in
                    await session.send_audio(chunk)
        for conv in deaf:  # lets the fake notice the drop (and stop promptly)
            conv.ws.transport.resume_reading()
        back = reader[-1]
        assert isinstance(back, SessionReconnected)
        assert back.error is not None and back.error.is_retryable
    assert fake.records.connections == 2
