"""The openai_live protocol core without sockets: state machine, replies and user turns
derived from a full-duplex stream, delegation, barge-in, usage and errors."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from beluga_voice.providers.errors import ErrorCode, S2SError
from beluga_voice.providers.events import (
    AudioChunk,
    Interrupted,
    ResponseDone,
    ResponseStarted,
    SessionClosed,
    SessionError,
    SessionEvent,
    SessionReady,
    SpeechStarted,
    SpeechStopped,
    ToolCall,
    Transcript,
    Usage,
)
from beluga_voice.providers.openai_live import LiveProtocol, OpenAILiveSettings, State
from beluga_voice.testing.speech import tone

SESSION = {"id": "sess_1", "expires_at": 1, "model": "gpt-live-1", "status": "active"}


def make(**settings: Any) -> LiveProtocol:
    core = LiveProtocol(OpenAILiveSettings(reply_end_silence_ms=200, **settings), [])
    core.start()
    feed(core, {"type": "session.started", "event_id": "e", "session": SESSION})
    core.take_outbound()
    return core


def feed(core: LiveProtocol, event: dict[str, Any]) -> list[SessionEvent]:
    return core.receive(json.dumps(event))


def audio(core: LiveProtocol, pcm: bytes) -> list[SessionEvent]:
    return feed(
        core, {"type": "session.output_audio.delta", "delta": base64.b64encode(pcm).decode()}
    )


def user(core: LiveProtocol, text: str, start: int, end: int) -> list[SessionEvent]:
    return feed(
        core,
        {
            "type": "session.input_transcript.delta",
            "event_id": "e",
            "delta": text,
            "start_ms": start,
            "end_ms": end,
        },
    )


def said(core: LiveProtocol, text: str) -> list[SessionEvent]:
    return feed(
        core,
        {
            "type": "session.output_transcript.delta",
            "event_id": "e",
            "delta": text,
            "start_ms": 0,
            "end_ms": 0,
        },
    )


SILENCE = bytes(2400 * 2)  # 100 ms at 24 kHz
VOICE = tone(0.1)


def test_state_machine_refuses_what_the_state_does_not_allow() -> None:
    core = LiveProtocol(OpenAILiveSettings(), [])
    with pytest.raises(S2SError) as exc:
        core.audio(VOICE)
    assert exc.value.code is ErrorCode.INVALID_REQUEST
    core.start()
    assert core.state is State.STARTING
    with pytest.raises(S2SError):
        core.start()
    assert core.close() is False  # nothing started to close
    events = feed(core, {"type": "session.output_audio.delta", "delta": ""})
    assert (
        isinstance(events[0], SessionError) and events[0].error.code is ErrorCode.MALFORMED_RESPONSE
    )
    events = feed(core, {"type": "session.started", "event_id": "e", "session": SESSION})
    assert events == [SessionReady("sess_1")] and core.state is State.ACTIVE
    assert core.close() is True and core.state is State.CLOSING
    with pytest.raises(S2SError) as exc:
        core.audio(VOICE)
    assert exc.value.code is ErrorCode.STREAM_CLOSED
    events = feed(
        core,
        {
            "type": "session.closed",
            "event_id": "e",
            "reason": "close_requested",
            "session": SESSION,
            "usage": {"seconds": 7},
        },
    )
    assert core.state is State.CLOSED
    assert isinstance(events[-2], Usage) and events[-2].details["seconds"] == 7
    assert isinstance(events[-1], SessionClosed) and events[-1].error is None
    assert feed(core, {"type": "session.output_audio.delta", "delta": ""}) == []


def test_replies_are_found_in_the_audio_and_silence_between_them_is_dropped() -> None:
    core = make()
    assert audio(core, SILENCE) == []  # the model listens: digital silence, no reply
    events = audio(core, VOICE)
    assert isinstance(events[0], ResponseStarted)
    assert isinstance(events[1], AudioChunk) and events[1].audio == VOICE
    said(core, "Hi")
    said(core, " there.")
    assert isinstance(audio(core, SILENCE)[0], AudioChunk)  # a pause inside the reply is kept
    events = audio(core, SILENCE)
    done = [e for e in events if isinstance(e, ResponseDone)]
    assert done and done[0].status == "completed"
    final = [e for e in events if isinstance(e, Transcript) and e.final]
    assert final[0].text == "Hi there." and core.history[-1].text == "Hi there."
    assert any(isinstance(e, AudioChunk) and e.is_final for e in events)
    assert audio(core, SILENCE) == []


def test_user_turns_from_transcript_fragments() -> None:
    core = make(user_turn_gap_ms=500)
    events = user(core, "What is", 0, 300)
    assert isinstance(events[0], SpeechStarted) and events[0].audio_start_ms == 0
    assert events[-1] == Transcript("user", "What is", final=False)
    user(core, " the time?", 300, 700)
    events = audio(core, VOICE)  # the assistant answers: the user's turn is over
    assert events[0] == SpeechStopped(700.0)
    assert events[1] == Transcript("user", "What is the time?", final=True)
    assert isinstance(events[2], ResponseStarted)
    # A long pause on the session timeline also starts a new turn.
    core2 = make(user_turn_gap_ms=500)
    user(core2, "One.", 0, 200)
    events = user(core2, "Two.", 1200, 1400)
    assert Transcript("user", "One.", final=True) in events


def test_the_model_yielding_to_the_user_is_a_barge_in() -> None:
    core = make()
    audio(core, VOICE)
    said(core, "A long story about")
    events = user(core, "Wait", 100, 200)
    assert not any(
        isinstance(e, (SpeechStarted, Interrupted)) for e in events
    )  # maybe a backchannel
    audio(core, SILENCE)
    events = audio(core, SILENCE)  # the model stopped while the user spoke over it
    kinds = [type(e).__name__ for e in events]
    assert "Interrupted" in kinds and "SpeechStarted" in kinds
    done = next(e for e in events if isinstance(e, ResponseDone))
    assert (done.status, done.reason) == ("cancelled", "turn_detected")
    assert not any(isinstance(e, AudioChunk) and e.is_final for e in events)


def test_interrupt_keeps_only_what_was_heard_and_tells_the_model() -> None:
    core = make()
    for _ in range(10):  # one second of reply
        audio(core, VOICE)
    said(core, "one two three four five six seven eight nine ten")
    assert isinstance(core.interrupt(None)[0], Interrupted)
    events = core.interrupt(played_ms=300.0)
    assert any(isinstance(e, ResponseDone) and e.status == "cancelled" for e in events)
    assert core.history[-1].text == "one two three"
    assert core.history[-1].metadata["truncated"] is True
    note = core.take_outbound()[-1]
    assert note["type"] == "session.instructions.append" and '"one two three"' in note["content"]
    assert note["delegation_id"] is None
    # Everything heard: nothing to trim, nothing to say.
    core2 = make()
    audio(core2, VOICE)
    said(core2, "short")
    audio(core2, SILENCE)
    audio(core2, SILENCE)
    core2.interrupt(played_ms=5000.0)
    assert core2.history[-1].text == "short" and core2.take_outbound() == []


def test_client_delegation_becomes_a_tool_call_answered_by_commentary() -> None:
    core = make(answer_channel="commentary", append_max_chars=100)
    user(core, "Book a table for two.", 0, 900)
    events = feed(
        core,
        {
            "type": "session.delegation.created",
            "event_id": "e",
            "offset_ms": 950,
            "delegation": {"id": "del_1", "type": "delegation", "target": "client"},
        },
    )
    assert Transcript("user", "Book a table for two.", final=True) in events
    call = events[-1]
    assert isinstance(call, ToolCall) and call.name == "delegate" and call.call_id == "del_1"
    assert call.parsed_arguments() == {"task": "Book a table for two.", "offset_ms": 950}
    core.answer("del_1", "Booked for 8 pm. " * 10)
    sent = core.take_outbound()
    assert len(sent) > 1 and all(e["type"] == "session.commentary.append" for e in sent)
    assert all(e["delegation_id"] == "del_1" and len(e["content"]) <= 100 for e in sent)
    assert " ".join(e["content"] for e in sent).split() == ("Booked for 8 pm. " * 10).split()
    with pytest.raises(S2SError):
        core.answer("del_1", "again")  # answered already


def test_backend_function_calls_usage_and_failures() -> None:
    core = make(responses_model="gpt-5.5", delegation="responses")
    feed(
        core,
        {
            "type": "session.delegation.created",
            "event_id": "e",
            "offset_ms": 1,
            "delegation": {
                "id": "d",
                "type": "delegation",
                "target": "responses",
                "response_id": "r",
            },
        },
    )

    def env(inner: dict[str, Any]) -> list[SessionEvent]:
        return feed(
            core, {"type": "response.event", "event_id": "e", "delegation_id": "d", "event": inner}
        )

    item = {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": '{"q": 1}'}
    item2 = {**item, "call_id": "c2"}
    assert env({"type": "response.output_item.done", "item": item}) == [
        ToolCall("c1", "lookup", '{"q": 1}')
    ]
    assert env({"type": "response.output_item.done", "item": item}) == []  # no duplicate
    env({"type": "response.output_item.done", "item": item2})
    core.answer("c1", "a")
    assert [e["type"] for e in core.take_outbound()] == ["response.item.create"]  # c2 still open
    core.answer("c2", "b")
    assert [e["type"] for e in core.take_outbound()] == ["response.item.create", "response.create"]
    usage = env(
        {
            "type": "response.completed",
            "response": {"usage": {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}},
        }
    )
    assert usage == [Usage(3, 4, 7, {"delegation_id": "d", "model": None})]
    failed = env(
        {
            "type": "response.failed",
            "response": {"error": {"code": "server_error", "message": "boom"}},
        }
    )
    assert isinstance(failed[0], SessionError) and not failed[0].fatal
    assert "boom" in failed[0].error.message


@pytest.mark.parametrize(
    ("code", "starting", "expected", "fatal"),
    [
        ("model_not_found", True, ErrorCode.INVALID_MODEL, True),
        ("credit_balance_exhausted", False, ErrorCode.QUOTA_EXCEEDED, True),
        ("unknown_parameter", True, ErrorCode.INVALID_REQUEST, True),  # startup rejected
        ("unknown_parameter", False, ErrorCode.INVALID_REQUEST, False),  # a command rejected
    ],
)
def test_errors_map_to_our_codes(
    code: str, starting: bool, expected: ErrorCode, fatal: bool
) -> None:
    core = LiveProtocol(OpenAILiveSettings(), [])
    core.start()
    if not starting:
        feed(core, {"type": "session.started", "event_id": "e", "session": SESSION})
    events = feed(
        core,
        {
            "type": "error",
            "event_id": "e",
            "error": {
                "code": code,
                "type": "invalid_request_error",
                "message": f"bad {code}",
                "param": "session.x",
            },
        },
    )
    assert isinstance(events[0], SessionError)
    assert (events[0].error.code, events[0].fatal) == (expected, fatal)
    assert (core.fatal is not None) == fatal


@pytest.mark.parametrize(
    ("reason", "code"),
    [("expired", ErrorCode.STREAM_CLOSED), ("connection_lost", ErrorCode.NETWORK_ERROR)],
)
def test_a_session_ending_by_itself_is_a_fatal_error(reason: str, code: ErrorCode) -> None:
    core = make()
    events = feed(
        core,
        {
            "type": "session.closed",
            "event_id": "e",
            "reason": reason,
            "session": SESSION,
            "usage": {"seconds": 3},
        },
    )
    assert isinstance(events[-1], SessionClosed) and events[-1].error is not None
    assert events[-1].error.code is code and events[-1].error.is_retryable


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[]",
        '{"no": "type"}',
        b"\xff\xfe",
        '{"type": "session.output_audio.delta", "delta": "!!"}',
        '{"type": "session.output_audio.delta", "delta": "AAAA"}',
    ],
)
def test_malformed_messages_are_non_fatal_errors(raw: str | bytes) -> None:
    core = make()
    events = core.receive(raw)
    assert len(events) == 1 and isinstance(events[0], SessionError) and not events[0].fatal
    assert core.state is State.ACTIVE


def test_mute_is_sent_once_per_change() -> None:
    core = make()
    core.mute(True)
    core.mute(True)
    core.mute(False)
    assert [e["type"] for e in core.take_outbound()] == [
        "session.input_audio.mute",
        "session.input_audio.unmute",
    ]


def test_trailing_silence_does_not_count_as_heard_words() -> None:
    core = make()  # replies end after 200 ms of silence
    for _ in range(4):  # 400 ms of speech
        audio(core, VOICE)
    said(core, "one two three four")
    audio(core, SILENCE)
    audio(core, SILENCE)  # the reply ends: 400 ms of speech, then 200 ms of silence
    core.interrupt(played_ms=200.0)
    assert core.history[-1].text == "one two"
