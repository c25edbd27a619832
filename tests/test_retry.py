"""Retry wrapper: silent reconnect, replay of unanswered audio, one clear final error."""

from __future__ import annotations

import random

import anyio
import pytest
from _resilience_faults import CHUNK, DroppingMock, delivered, utterance
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from beluga_voice.conversation import new_conversation_context
from beluga_voice.providers.config import S2SConfig
from beluga_voice.providers.errors import ErrorCode, S2SError
from beluga_voice.providers.events import (
    AudioChunk,
    ResponseDone,
    SessionClosed,
    SessionError,
    SessionEvent,
    SessionReconnected,
)
from beluga_voice.providers.journal import AudioJournal
from beluga_voice.providers.mock import AdvancedMockS2SProvider
from beluga_voice.providers.retry import Backoff, RetryingProvider

pytestmark = pytest.mark.anyio

CONFIG = S2SConfig(provider="mock", max_retries=3, retry_delay=0.1, retry_backoff=2.0, timeout=5)


def wrap(mock: AdvancedMockS2SProvider, **kw: object) -> RetryingProvider:
    return RetryingProvider(mock, CONFIG, rng=random.Random(7), **kw)  # type: ignore[arg-type]


async def converse(
    session: object, chunks: list[bytes], *, until_done: int = 1, on_event=None
) -> list[SessionEvent]:
    """Send ``chunks`` then read events until ``until_done`` completed responses (or end)."""
    events: list[SessionEvent] = []
    done = 0
    with anyio.fail_after(10):
        for chunk in chunks:
            await session.send_audio(chunk)  # type: ignore[attr-defined]
        async for event in session:  # type: ignore[attr-defined]
            events.append(event)
            if on_event is not None:
                on_event(event)
            if isinstance(event, ResponseDone) and event.status == "completed":
                done += 1
                if done == until_done:
                    break
    return events


async def test_disconnect_mid_user_turn_replays_unanswered_audio() -> None:
    mock = DroppingMock(drop_after_audio=10)
    ctx = new_conversation_context()
    ctx.add_turn("user", "hello there")  # what the owner recorded earlier
    turn = utterance(0)
    async with await wrap(mock).start_streaming(ctx) as session:
        events = await converse(session, turn)
    reconnects = [e for e in events if isinstance(e, SessionReconnected)]
    assert len(reconnects) == 1
    assert reconnects[0].error is not None and reconnects[0].error.code is ErrorCode.NETWORK_ERROR
    # Nothing was answered before the drop, so the whole turn is replayed...
    assert reconnects[0].replayed_bytes == len(turn) * CHUNK
    # ...and the new session heard every chunk, in order, and answered once.
    assert mock.sessions[1].heard == turn
    assert delivered(turn, mock) == len(turn)
    assert mock.turns == 1 and mock.calls == 2
    assert not any(isinstance(e, SessionError) for e in events)
    # The conversation context was carried over: the same object, history intact.
    assert mock.sessions[1].context is ctx
    assert [(t.role, t.text) for t in mock.sessions[1].context.history] == [("user", "hello there")]


async def test_drop_during_reply_closes_the_reply_and_keeps_the_next_turn() -> None:
    """60 ms of the reply played, and the threshold is 50 ms: the cut is reported."""
    mock = AdvancedMockS2SProvider(disconnect_after_chunks=3)
    first, second = utterance(0), utterance(100)
    seen: list[SessionEvent] = []
    config = CONFIG.model_copy(update={"replay_cut_reply_under": 0.05})
    provider = RetryingProvider(mock, config, rng=random.Random(7))
    async with await provider.start_streaming() as session:
        with anyio.fail_after(10):
            for chunk in first:
                await session.send_audio(chunk)
            async for event in session:
                seen.append(event)
                if isinstance(event, SessionReconnected):
                    break
            mock.disconnect_after_chunks = None
            seen += await converse(session, second)
    audio = [e for e in seen if isinstance(e, AudioChunk) and e.audio]
    assert len(audio) >= 3  # the reply played before the drop
    reconnect = next(e for e in seen if isinstance(e, SessionReconnected))
    # The user heard more than the threshold: the reply is closed, told, not replayed.
    closing = seen[seen.index(reconnect) - 1]
    assert isinstance(closing, ResponseDone) and closing.status == "incomplete"
    told = seen[seen.index(reconnect) - 2]
    assert isinstance(told, SessionError) and told.error.code is ErrorCode.REPLY_CUT
    assert reconnect.replayed_bytes < len(first) * CHUNK
    assert mock.turns == 2  # first turn once, second turn once: no duplicate answer
    assert delivered(first + second, mock) == len(first) + len(second)


async def test_open_failure_is_retried_silently() -> None:
    mock = AdvancedMockS2SProvider(fail_on_call=1)
    async with await wrap(mock).start_streaming() as session:
        events = await converse(session, utterance(0))
    assert mock.calls == 2
    assert any(isinstance(e, ResponseDone) and e.status == "completed" for e in events)


async def test_non_retryable_error_fails_at_once() -> None:
    err = S2SError("connect", ErrorCode.AUTHENTICATION_ERROR, "bad key sk-abcdefghijklmnop")
    mock = AdvancedMockS2SProvider(fail_on_call=1, error=err)
    with pytest.raises(S2SError) as info:
        await wrap(mock).start_streaming()
    assert info.value.code is ErrorCode.AUTHENTICATION_ERROR
    assert "sk-abcdefghijklmnop" not in str(info.value)
    assert mock.calls == 1


async def test_exhausted_retries_surface_one_clear_error() -> None:
    mock = AdvancedMockS2SProvider(fail_after_chunks=0)  # every reply fails at once
    async with await wrap(mock).start_streaming() as session:
        events = await converse(session, utterance(0), until_done=99)
    errors = [e for e in events if isinstance(e, SessionError)]
    assert len(errors) == 1 and errors[0].fatal
    assert errors[0].error.code is ErrorCode.STREAM_ERROR
    assert "gave up after 3 retries" in str(errors[0].error)
    assert isinstance(events[-1], SessionClosed) and events[-1].error is not None
    assert mock.calls == 4  # the first session and three retries
    assert sum(isinstance(e, SessionReconnected) for e in events) == 3


async def test_stall_during_reply_reconnects_when_stall_timeout_is_set() -> None:
    mock = AdvancedMockS2SProvider(stall_after_chunks=2)

    def heal(event: SessionEvent) -> None:
        if isinstance(event, SessionReconnected):
            mock.stall_after_chunks = None

    async with await wrap(mock, stall_timeout=0.2).start_streaming() as session:
        with anyio.fail_after(10):
            for chunk in utterance(0):
                await session.send_audio(chunk)
            events = []
            async for event in session:
                events.append(event)
                heal(event)
                if isinstance(event, SessionReconnected):
                    break
    reconnect = events[-1]
    assert isinstance(reconnect, SessionReconnected)
    assert reconnect.error is not None and reconnect.error.code is ErrorCode.STREAM_TIMEOUT


async def test_process_is_retried() -> None:
    from beluga_voice.providers.types import AudioInput

    mock = AdvancedMockS2SProvider(fail_on_call=1, turn_detection="client")
    out = await wrap(mock).process(AudioInput(b"".join(utterance(0))))
    assert out.data and mock.calls == 2


@given(
    delay=st.floats(0.1, 30),
    backoff=st.floats(1, 5),
    attempt=st.integers(1, 50),
    seed=st.integers(),
)
def test_backoff_full_jitter_stays_within_the_capped_ceiling(
    delay: float, backoff: float, attempt: int, seed: int
) -> None:
    b = Backoff(delay, backoff, cap=30.0, rng=random.Random(seed))
    wait = b(attempt)
    assert 0.0 <= wait <= b.ceiling(attempt) <= 30.0
    assert b.ceiling(attempt) >= b.ceiling(max(1, attempt - 1))


@given(
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("a"), st.integers(1, 40)),
            st.tuples(st.just("k"), st.integers(0, 400)),
        ),
        max_size=60,
    ),
    cap=st.integers(2, 200),
)
def test_journal_pending_is_exactly_the_unacknowledged_suffix(
    ops: list[tuple[str, int]], cap: int
) -> None:
    journal = AudioJournal(cap * 2)
    data = bytearray()
    for op, n in ops:
        if op == "a":
            chunk = bytes((len(data) + i) % 251 for i in range(2 * n))
            data += chunk
            journal.append(chunk)
        else:
            journal.acknowledge(n * 2)
    assert journal.total == len(data)
    assert b"".join(journal.pending()) == bytes(data[journal.acked :])
    assert journal.acked % 2 == 0 and journal.pending_bytes == len(data) - journal.acked


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drop=st.integers(0, 69))
async def test_a_drop_anywhere_in_two_turns_loses_nothing_and_answers_each_turn_once(
    drop: int,
) -> None:
    mock = DroppingMock(drop_after_audio=drop)
    first, second = utterance(0), utterance(1000)
    async with await wrap(mock).start_streaming() as session:
        await converse(session, first)
        await converse(session, second)
    assert delivered(first + second, mock) == len(first) + len(second)
    assert mock.turns == 2
