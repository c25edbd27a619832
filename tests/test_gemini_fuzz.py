"""Property tests and fuzzing of the Gemini wire code: bad input gives clear errors only."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beluga_voice.providers.errors import ErrorCode, S2SError
from beluga_voice.providers.events import AudioChunk
from beluga_voice.providers.gemini_live import GeminiLiveProtocol, GeminiSettings
from beluga_voice.providers.gemini_live.wire import audio_message, b64decode, parse_server_message
from beluga_voice.testing.fake_gemini.schema import check_client_message

_ALLOWED = {ErrorCode.MALFORMED_RESPONSE, ErrorCode.INVALID_RESPONSE}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=8,
)
keys = st.sampled_from(
    [
        "setupComplete",
        "serverContent",
        "toolCall",
        "toolCallCancellation",
        "goAway",
        "sessionResumptionUpdate",
        "usageMetadata",
        "voiceActivity",
        "error",
        "other",
    ]
)
inner_keys = st.sampled_from(
    [
        "modelTurn",
        "parts",
        "inlineData",
        "data",
        "mimeType",
        "turnComplete",
        "interrupted",
        "inputTranscription",
        "outputTranscription",
        "text",
        "finished",
        "functionCalls",
        "id",
        "name",
        "args",
        "ids",
        "newHandle",
        "resumable",
        "lastConsumedClientMessageIndex",
        "promptTokenCount",
        "voiceActivityType",
        "code",
        "message",
    ]
)
shaped = st.recursive(
    json_values,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(inner_keys, inner, max_size=4),
    max_leaves=10,
)
server_messages = st.dictionaries(keys, shaped, min_size=1, max_size=3)


def opened() -> GeminiLiveProtocol:
    core = GeminiLiveProtocol(GeminiSettings())
    core.start_connection()
    core.receive('{"setupComplete": {}}')
    return core


def feed(core: GeminiLiveProtocol, raw: str | bytes) -> None:
    try:
        core.receive(raw)
    except S2SError as exc:
        assert exc.code in _ALLOWED or exc.op == "receive", exc
        assert str(exc)  # a message a person can read


@settings(max_examples=100, deadline=None)
@given(st.lists(server_messages, min_size=1, max_size=4))
def test_structured_garbage_never_crashes_the_core(messages: list[dict[str, Any]]) -> None:
    core = opened()
    for message in messages:
        feed(core, json.dumps(message))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200))
def test_raw_garbage_never_crashes_the_core(raw: bytes | str) -> None:
    feed(opened(), raw)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64).map(lambda b: b[: len(b) // 2 * 2]))
def test_audio_message_round_trips_and_validates(pcm: bytes) -> None:
    message = audio_message(pcm)
    text = json.dumps(message)
    check_client_message(text)
    assert b64decode(message["realtimeInput"]["audio"]["data"], "data") == pcm


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=96))
def test_b64decode_takes_both_alphabets(data: bytes) -> None:
    assert b64decode(base64.b64encode(data).decode(), "x") == data
    assert b64decode(base64.urlsafe_b64encode(data).decode(), "x") == data


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(min_size=2, max_size=40).map(lambda b: b[: len(b) // 2 * 2]), max_size=5))
def test_reply_audio_arrives_unchanged(chunks: list[bytes]) -> None:
    core = opened()
    got = b""
    for chunk in chunks:
        part = {
            "inlineData": {
                "mimeType": "audio/pcm;rate=24000",
                "data": base64.b64encode(chunk).decode(),
            }
        }
        for event in core.receive(json.dumps({"serverContent": {"modelTurn": {"parts": [part]}}})):
            if isinstance(event, AudioChunk):
                got += event.audio
    assert got == b"".join(chunks)


def test_parse_server_message_rejects_deep_nesting_clearly() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(S2SError) as info:
        parse_server_message(deep)
    assert info.value.code is ErrorCode.MALFORMED_RESPONSE


leaf = json_values | st.sampled_from(["audio/pcm;rate=24000", "AAAA", "AA==", "x", ""])
content_messages = st.fixed_dictionaries(
    {},
    optional={
        "modelTurn": st.fixed_dictionaries(
            {},
            optional={
                "parts": st.lists(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "inlineData": st.fixed_dictionaries(
                                {}, optional={"mimeType": leaf, "data": leaf}
                            )
                            | leaf,
                            "text": leaf,
                        },
                    )
                    | leaf,
                    max_size=3,
                )
                | leaf
            },
        ),
        "turnComplete": leaf,
        "interrupted": leaf,
        "inputTranscription": st.fixed_dictionaries({}, optional={"text": leaf, "finished": leaf}),
        "outputTranscription": st.fixed_dictionaries({}, optional={"text": leaf}) | leaf,
    },
)
tool_calls = st.fixed_dictionaries(
    {},
    optional={
        "functionCalls": st.lists(
            st.fixed_dictionaries({}, optional={"id": leaf, "name": leaf, "args": leaf}),
            max_size=3,
        )
        | leaf
    },
)


@settings(max_examples=120, deadline=None)
@given(
    st.lists(
        st.one_of(
            content_messages.map(lambda c: {"serverContent": c}),
            tool_calls.map(lambda c: {"toolCall": c}),
            st.fixed_dictionaries(
                {},
                optional={
                    "newHandle": leaf,
                    "resumable": leaf,
                    "lastConsumedClientMessageIndex": leaf,
                },
            ).map(lambda u: {"sessionResumptionUpdate": u}),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_nearly_valid_messages_never_crash_the_core(messages: list[dict[str, Any]]) -> None:
    core = opened()
    for message in messages:
        feed(core, json.dumps(message))
