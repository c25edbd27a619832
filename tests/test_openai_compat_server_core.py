"""The server's sans-I/O protocol core, without sockets: client events and backend events
in, server events (checked against the SDK's ``RealtimeServerEvent``) and actions out."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from beluga_voice.providers.errors import ErrorCode, S2SError
from beluga_voice.providers.events import (
    AudioChunk,
    ResponseDone,
    ResponseStarted,
    SessionClosed,
    SpeechStarted,
    SpeechStopped,
    Transcript,
)
from beluga_voice.testing.fake_realtime import check_server_event
from beluga_voice.transports.openai_realtime_server import RealtimeServerCore
from beluga_voice.transports.openai_realtime_server.actions import (
    CloseConnection,
    EndTurn,
    Interrupt,
    OpenBackend,
    SendAudio,
    SendText,
)


def _take(core: RealtimeServerCore) -> tuple[list[dict[str, Any]], list[Any]]:
    events, actions = core.take()
    for event in events:
        assert check_server_event(event, "openai") is None, event
    return events, actions


def _send(
    core: RealtimeServerCore, event: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[Any]]:
    core.receive(json.dumps(event))
    return _take(core)


def _open(core: RealtimeServerCore, rate: int = 16000) -> None:
    core.start()
    _send(core, {"type": "session.update", "session": {"type": "realtime"}})
    core.backend_opened(rate)
    _take(core)


def test_session_update_opens_the_backend_and_answers_once_it_is_open() -> None:
    core = RealtimeServerCore()
    core.start()
    events, _ = _take(core)
    assert [e["type"] for e in events] == ["session.created"]
    events, actions = _send(
        core, {"type": "session.update", "session": {"type": "realtime", "instructions": "x"}}
    )
    assert events == [] and actions == [OpenBackend()]
    core.backend_opened(16000)
    events, _ = _take(core)
    assert [e["type"] for e in events] == ["session.updated"]
    assert core.applied is not None and core.applied.instructions == "x"
    # The same settings again: no reopening, an answer at once.
    events, actions = _send(
        core, {"type": "session.update", "session": {"type": "realtime", "instructions": "x"}}
    )
    assert [e["type"] for e in events] == ["session.updated"] and actions == []


def test_audio_before_the_backend_is_held_then_resampled_to_its_rate() -> None:
    core = RealtimeServerCore()
    core.start()
    _take(core)
    pcm = b"\x10\x00" * 2400  # 100 ms at 24 kHz
    _, actions = _send(
        core, {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()}
    )
    assert actions == [OpenBackend()]
    core.backend_opened(16000)
    _, actions = _take(core)
    sent = b"".join(a.pcm for a in actions if isinstance(a, SendAudio))
    assert 0 < len(sent) <= 3200  # at most 100 ms at 16 kHz (the filter holds a little back)


def test_cancel_before_the_backend_starts_discards_that_reply() -> None:
    core = RealtimeServerCore()
    _open(core)
    _send(
        core,
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "hi"}],
            },
        },
    )
    events, actions = _send(core, {"type": "response.create"})
    assert [e["type"] for e in events] == ["response.created"] and actions == [SendText("hi")]
    events, actions = _send(core, {"type": "response.cancel"})
    assert events[-1]["response"]["status"] == "cancelled"
    core.on_backend(ResponseStarted("b1"))
    core.on_backend(AudioChunk(b"\0\1" * 480, 24000, response_id="b1"))
    core.on_backend(ResponseDone("b1"))
    events, actions = _take(core)
    assert events == [] and Interrupt(None) in actions  # dropped, and the backend is stopped


def test_server_vad_turn_and_barge_in() -> None:
    core = RealtimeServerCore()
    _open(core)
    core.on_backend(SpeechStarted(100))
    core.on_backend(SpeechStopped(900))
    core.on_backend(Transcript("user", "hello", final=True))
    core.on_backend(ResponseStarted("b1"))
    core.on_backend(AudioChunk(b"\0\1" * 2400, 24000, response_id="b1"))
    core.on_backend(SpeechStarted(1500))  # the user talks over the reply
    events, actions = _take(core)
    types = [e["type"] for e in events]
    assert types[:3] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
    ]
    barge = types.index("input_audio_buffer.speech_started", 1)
    assert types[barge:] == [
        "input_audio_buffer.speech_started",
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    ]
    assert events[-1]["response"]["status_details"]["reason"] == "turn_detected"
    assert actions == [Interrupt(None)]
    assert [t.text for t in core.context.history] == ["hello"]  # the cut reply had no words


def test_commit_without_server_vad_waits_for_response_create() -> None:
    core = RealtimeServerCore()
    core.start()
    _send(
        core,
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}},
        },
    )
    core.backend_opened(24000)
    _take(core)
    events, _ = _send(core, {"type": "input_audio_buffer.commit"})
    assert events[0]["error"]["code"] == "input_audio_buffer_commit_empty"
    _send(
        core,
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\0\0" * 240).decode()},
    )
    events, actions = _send(core, {"type": "input_audio_buffer.commit"})
    assert events[0]["type"] == "input_audio_buffer.committed" and EndTurn() not in actions
    _, actions = _send(core, {"type": "response.create"})
    assert EndTurn() in actions


def test_a_backend_that_fails_or_ends_is_reported() -> None:
    core = RealtimeServerCore()
    core.start()
    _take(core)
    _send(
        core,
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\0\0" * 2400).decode()},
    )
    core.backend_failed("no route", "network_error")
    events, _ = _take(core)
    assert events[0]["error"]["code"] == "network_error"
    assert "100 ms of audio dropped" in events[0]["error"]["message"]
    _open(core)
    err = S2SError("receive", ErrorCode.NETWORK_ERROR, "gone")
    core.on_backend(SessionClosed("dropped", err))
    events, actions = _take(core)
    assert events[-1]["type"] == "error" and isinstance(actions[-1], CloseConnection)


def test_bad_messages_are_counted_and_answered() -> None:
    core = RealtimeServerCore()
    core.receive("{not json")
    core.receive(b"\0\1")
    core.receive(json.dumps([1, 2]))
    events, _ = _take(core)
    assert [e["error"]["code"] for e in events] == [
        "invalid_json",
        "invalid_event",
        "invalid_event",
    ]
    assert core.protocol_errors == 3


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
_types = st.sampled_from(
    [
        "session.update",
        "input_audio_buffer.append",
        "input_audio_buffer.commit",
        "conversation.item.create",
        "conversation.item.truncate",
        "response.create",
        "response.cancel",
        "conversation.item.delete",
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            _types,
            st.dictionaries(
                st.sampled_from(
                    [
                        "session",
                        "item",
                        "audio",
                        "response",
                        "item_id",
                        "audio_end_ms",
                        "content_index",
                    ]
                ),
                _json,
                max_size=3,
            ),
        ),
        max_size=6,
    )
)
def test_no_client_event_crashes_the_core(events: list[tuple[str, dict[str, Any]]]) -> None:
    core = RealtimeServerCore()
    _open(core)
    for kind, body in events:
        core.receive(json.dumps({"type": kind, **body}))
        _take(core)  # every reply is a valid server event


def test_tools_for_a_backend_that_cannot_call_them_are_reported() -> None:
    core = RealtimeServerCore()
    core.start()
    tool = {"type": "function", "name": "f", "parameters": {"type": "object"}}
    _send(
        core,
        {
            "type": "session.update",
            "event_id": "u1",
            "session": {"type": "realtime", "tools": [tool]},
        },
    )
    core.backend_opened(16000, tools=False)
    events, _ = _take(core)
    assert [e["type"] for e in events] == ["error", "session.updated"]
    assert events[0]["error"]["param"] == "session.tools"
    assert events[0]["error"]["event_id"] == "u1"


def test_a_late_final_transcript_does_not_open_a_response() -> None:
    core = RealtimeServerCore()
    _open(core)
    core.on_backend(ResponseStarted("b1"))
    core.on_backend(Transcript("assistant", "Hi.", final=False))
    core.on_backend(AudioChunk(b"\0\1" * 480, 24000, response_id="b1"))
    core.on_backend(ResponseDone("b1"))
    core.on_backend(Transcript("assistant", "Hi.", final=True))
    events, _ = _take(core)
    assert [e["type"] for e in events].count("response.created") == 1
    assert events[-1]["type"] == "response.done"
    assert events[-1]["response"]["output"][0]["content"][0]["transcript"] == "Hi."
