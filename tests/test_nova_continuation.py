"""Session continuation: a conversation outlives Bedrock's per-stream time limit.

The acceptance criterion is byte-exact: every byte of user audio sent reaches the fake,
in order, across the streams, and the next stream is seeded with the history.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from nova_support import SILENCE, SPEECH, assert_clean_records, nova, say, until

from beluga_voice.providers.errors import ErrorCode
from beluga_voice.providers.events import (
    ResponseDone,
    SessionClosed,
    SessionError,
    SessionEvent,
    SessionReconnected,
    Transcript,
)
from beluga_voice.providers.retry import RetryingProvider
from beluga_voice.testing.fake_bedrock import FakeBedrock, Injection, OpenFailure
from beluga_voice.testing.speech import tone

pytestmark = pytest.mark.anyio

HISTORY = [("USER", "what the user said"), ("ASSISTANT", "Hello from the fake Nova.")]


class Reader:
    """Iterates a session in the background; tests wait on what it saw."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.events: list[SessionEvent] = []
        self._changed = anyio.Event()

    async def run(self) -> None:
        async for event in self.session:
            self.events.append(event)
            self._changed.set()
            self._changed = anyio.Event()

    async def wait_count(self, kind: type, count: int, limit: float = 5.0) -> None:
        with anyio.fail_after(limit):
            while sum(isinstance(e, kind) for e in self.events) < count:
                await self._changed.wait()


def all_audio(fake: FakeBedrock) -> bytes:
    return b"".join(bytes(r.audio) for r in fake.records)


async def test_continue_now_hands_over_history_and_loses_no_audio() -> None:
    async with FakeBedrock() as fake:
        async with nova(fake).stream() as session:
            sent = bytearray(SPEECH + SILENCE * 20)
            await say(session)
            await until(session, ResponseDone)
            await session.continue_now()
            for _ in range(25):  # buffered until the new stream is accepted
                await session.send_audio(SILENCE)
                sent += SILENCE
            events = await until(session, SessionReconnected)
            reconnected = events[-1]
            assert isinstance(reconnected, SessionReconnected)
            assert reconnected.replayed_bytes == 25 * len(SILENCE)
            assert reconnected.error is None
            await say(session)  # the conversation goes on, on the new stream
            sent += SPEECH + SILENCE * 20
            events = await until(session, ResponseDone)
            assert any(isinstance(e, Transcript) and e.final for e in events)
        assert session.continuations == 1
        _first, second = fake.records
        assert second.history == HISTORY
        assert second.turns == 1
        assert all_audio(fake) == bytes(sent)
        assert_clean_records(fake)


async def test_time_limit_triggers_continuation_while_audio_flows() -> None:
    async with FakeBedrock() as fake:
        async with nova(fake, continue_after_seconds=0.15).stream() as session:
            reader = Reader(session)
            sent = bytearray()
            async with anyio.create_task_group() as tg:
                tg.start_soon(reader.run)
                for i in range(40):  # 0.8 s of microphone audio, paced like a microphone
                    chunk = SPEECH[:640] if i % 10 < 3 else SILENCE
                    await session.send_audio(chunk)
                    sent += chunk
                    await anyio.sleep(0.02)
                await reader.wait_count(SessionReconnected, 2)
                await session.close()
        assert session.continuations >= 2
        assert len(fake.records) >= 3
        assert all_audio(fake) == bytes(sent)
        assert_clean_records(fake)


@pytest.mark.parametrize("kind", ["end_stream", "reset"])
async def test_server_ending_the_stream_is_continued(kind: str) -> None:
    async with FakeBedrock() as fake:
        fake.injections.append(Injection(kind, after_audio_bytes=30_000, stream=1))
        async with nova(fake).stream() as session:
            reader = Reader(session)
            sent = bytearray()
            async with anyio.create_task_group() as tg:
                tg.start_soon(reader.run)
                sent += SPEECH + SILENCE * 20
                await say(session)
                await reader.wait_count(ResponseDone, 1)
                for _ in range(30):  # crosses the injected end at 30 000 bytes
                    await session.send_audio(SILENCE)
                    sent += SILENCE
                await reader.wait_count(SessionReconnected, 1)
                speech = tone(0.3, rate=16000, hz=300)
                sent += speech + SILENCE * 20
                await say(session, speech)
                await reader.wait_count(ResponseDone, 2)
                await session.close()
        [reconnected] = [e for e in reader.events if isinstance(e, SessionReconnected)]
        assert reconnected.error is not None and reconnected.error.code.value == "stream_closed"
        first, second = fake.records
        assert second.history == HISTORY
        if kind == "end_stream":
            assert all_audio(fake) == bytes(sent)
        else:
            # A reset discards what was in flight on the dead stream; what follows is intact.
            assert bytes(second.audio) == bytes(sent)[-len(second.audio) :]
            assert len(first.audio) >= 30_000
        assert_clean_records(fake)


async def test_refused_continuation_stays_on_the_current_stream() -> None:
    async with FakeBedrock() as fake:
        async with nova(fake).stream() as session:
            sent = bytearray()
            fake.open_failures.append(OpenFailure())
            await session.continue_now()
            for _ in range(10):  # buffered while the next stream is pending
                await session.send_audio(SILENCE)
                sent += SILENCE
            events = await until(session, SessionError)
            error = events[-1]
            assert isinstance(error, SessionError) and not error.fatal
            assert error.error.code is ErrorCode.RATE_LIMIT
            sent += SPEECH + SILENCE * 20
            await say(session)  # the first stream still carries the conversation
            await until(session, ResponseDone)
        assert session.continuations == 0
        assert [r.status for r in fake.records] == [200, 429]
        assert bytes(fake.records[0].audio) == bytes(sent)
        assert_clean_records(fake)


async def test_mid_stream_throttling_is_retried_by_the_retry_wrapper() -> None:
    async def no_wait(_: float) -> None:
        return None

    async with FakeBedrock() as fake:
        fake.injections.append(Injection("exception", after_audio_bytes=6400, stream=1))
        retrying = RetryingProvider(nova(fake), sleep=no_wait)
        async with retrying.stream() as session:
            reader = Reader(session)
            async with anyio.create_task_group() as tg:
                tg.start_soon(reader.run)
                await say(session, silence_chunks=0)  # throttled part way through
                await reader.wait_count(SessionReconnected, 1)
                await say(session)
                await reader.wait_count(ResponseDone, 1)
                await session.close()
        [reconnected] = [e for e in reader.events if isinstance(e, SessionReconnected)]
        assert reconnected.error is not None and reconnected.error.code is ErrorCode.RATE_LIMIT
        assert not any(isinstance(e, SessionError) and e.fatal for e in reader.events)
        assert [r.status for r in fake.records] == [200, 200]
        assert fake.records[1].turns >= 1


async def test_a_refused_continuation_that_stays_open_does_not_hang_the_session() -> None:
    async with FakeBedrock() as fake:
        async with nova(fake, connect_timeout=0.3).stream() as session:
            fake.open_failures.append(OpenFailure(keep_open=True))
            await session.continue_now()
            await session.send_audio(SILENCE)
            events = await until(session, SessionError, limit=3)
            error = events[-1]
            assert isinstance(error, SessionError) and not error.fatal
            assert error.error.code is ErrorCode.RATE_LIMIT
            await say(session)  # still served by the first stream
            await until(session, ResponseDone)
        assert session.continuations == 0
        assert_clean_records(fake)


async def test_a_stream_the_server_ends_is_closed_on_our_side_as_documented() -> None:
    """AWS: a client ends its side with contentEnd (open audio), promptEnd, sessionEnd and
    the signed empty event; also when Bedrock ended the stream first (issue 24, item 8)."""
    async with FakeBedrock() as fake:
        fake.injections.append(Injection("end_stream", after_audio_bytes=3200, stream=1))
        async with nova(fake).stream() as session:
            await say(session, silence_chunks=0)
            await until(session, SessionReconnected)
        first, second = fake.records
    assert first.ended_by_server
    assert first.events[-3:] == ["contentEnd", "promptEnd", "sessionEnd"]
    assert first.end_marker and first.client_ended
    assert first.frames_verified == len(first.events) + 1  # every chunk signature checked
    assert second.events[-3:] == ["contentEnd", "promptEnd", "sessionEnd"]
    assert_clean_records(fake)


async def test_a_continuation_whose_first_events_are_refused_ends_the_session_at_once() -> None:
    """Bedrock accepts a stream (HTTP 200) before it reads its events, and the hand-over is
    done by then; a refusal of the new stream's opening events therefore ends the session,
    at once, with Bedrock's message and a code that no wrapper retries."""
    async with FakeBedrock() as fake:
        fake.injections.append(
            Injection("exception", exception_type="validationException", message="bad", stream=2)
        )
        async with nova(fake).stream() as session:
            await session.continue_now()
            await session.send_audio(SILENCE)
            events = await until(session, SessionClosed, limit=3)
        errors = [e for e in events if isinstance(e, SessionError)]
        assert [(e.fatal, e.error.code) for e in errors] == [(True, ErrorCode.INVALID_REQUEST)]
        assert "validationException: bad" in str(errors[0].error)
        first, second = fake.records  # nothing is retried
        assert first.events[-3:] == ["contentEnd", "promptEnd", "sessionEnd"]
        assert first.end_marker and first.client_ended and second.client_ended
