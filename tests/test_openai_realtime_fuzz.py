"""Fuzzing the server-event parser: nothing a server sends may crash a session."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from beluga_voice.providers.errors import ErrorCode
from beluga_voice.providers.events import SessionError, SessionEvent
from beluga_voice.providers.openai_realtime import (
    GROK,
    OPENAI,
    GrokVoiceSettings,
    OpenAIRealtimeSettings,
    RealtimeProtocol,
)

KINDS = [
    "session.created",
    "session.updated",
    "input_audio_buffer.speech_started",
    "input_audio_buffer.speech_stopped",
    "input_audio_buffer.committed",
    "conversation.item.input_audio_transcription.delta",
    "conversation.item.input_audio_transcription.updated",
    "conversation.item.input_audio_transcription.completed",
    "conversation.item.input_audio_transcription.failed",
    "response.created",
    "response.output_item.added",
    "response.output_audio.delta",
    "response.output_audio_transcript.delta",
    "response.output_audio_transcript.done",
    "response.text.delta",
    "response.output_text.done",
    "response.function_call_arguments.done",
    "response.done",
    "error",
    "ping",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=8,
)
fields = st.sampled_from(
    [
        "response",
        "item",
        "item_id",
        "delta",
        "transcript",
        "error",
        "call_id",
        "name",
        "arguments",
        "session",
        "audio_start_ms",
        "content_index",
    ]
)
events = st.builds(
    lambda kind, extra: {"type": kind, **extra},
    st.sampled_from(KINDS),
    st.dictionaries(fields, json_values, max_size=6),
)


def check(core: RealtimeProtocol, event: dict[str, Any]) -> None:
    """Only session events come out; only ``error`` events may be fatal."""
    for out in core.receive(json.dumps(event)):
        assert isinstance(out, SessionEvent.__args__)  # type: ignore[attr-defined]
        if isinstance(out, SessionError) and out.fatal:
            assert event["type"] == "error"


@settings(max_examples=120, deadline=None)
@given(st.lists(events, max_size=8))
def test_structured_garbage_never_raises(sequence: list[dict[str, Any]]) -> None:
    openai = RealtimeProtocol(OPENAI, OpenAIRealtimeSettings(), [])
    grok = RealtimeProtocol(GROK, GrokVoiceSettings(binary_audio=True), [])
    for event in sequence:
        check(openai, event)
        check(grok, event)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_random_frames_never_raise(frame: str | bytes) -> None:
    core = RealtimeProtocol(OPENAI, OpenAIRealtimeSettings(), [])
    out = core.receive(frame)
    try:
        parsed = json.loads(frame)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("type"), str):
        return  # a well-formed event of some kind: covered by the structured test
    assert len(out) == 1 and isinstance(out[0], SessionError)
    assert out[0].error.code is ErrorCode.MALFORMED_RESPONSE and not out[0].fatal


def test_malformed_json_is_a_clear_non_fatal_error() -> None:
    core = RealtimeProtocol(OPENAI, OpenAIRealtimeSettings(), [])
    (event,) = core.receive("{not json")
    assert isinstance(event, SessionError) and not event.fatal
    assert event.error.code is ErrorCode.MALFORMED_RESPONSE
    (event,) = core.receive(
        '{"type": "response.output_audio.delta", "delta": "@@@", "item_id": "x"}'
    )
    assert event.error.code is ErrorCode.MALFORMED_RESPONSE
    assert "response.output_audio.delta" in str(event.error)
    (event,) = core.receive(b"\x01\x02")  # binary audio without the binary transport
    assert event.error.code is ErrorCode.MALFORMED_RESPONSE
    assert core.receive('{"type": "rate_limits.updated", "rate_limits": []}') == []
