"""The sans-I/O Nova core: event sequence out, event mapping in, no sockets."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from botocore.credentials import ReadOnlyCredentials
from hypothesis import given, settings
from hypothesis import strategies as st

from beluga_voice.conversation import Turn
from beluga_voice.providers.amazon_nova.eventstream import encode_message
from beluga_voice.providers.amazon_nova.faults import exception_error, status_error
from beluga_voice.providers.amazon_nova.history import history_for_handover
from beluga_voice.providers.amazon_nova.leg import Leg
from beluga_voice.providers.amazon_nova.protocol import NovaProtocol
from beluga_voice.providers.amazon_nova.settings import NovaSettings, NovaTool
from beluga_voice.providers.amazon_nova.signing import ChunkSigner
from beluga_voice.providers.amazon_nova.transport import H2Stream
from beluga_voice.providers.errors import ErrorCode, S2SError
from beluga_voice.providers.events import (
    AudioChunk,
    Interrupted,
    ResponseDone,
    ResponseStarted,
    ToolCall,
    Transcript,
    Usage,
)


def _core(**settings: Any) -> NovaProtocol:
    return NovaProtocol(NovaSettings(**settings), [])


def _names(events: list[dict[str, Any]]) -> list[str]:
    return [next(iter(e["event"])) for e in events]


def _body(event: dict[str, Any]) -> dict[str, Any]:
    return next(iter(event["event"].values()))


def _server(name: str, **body: Any) -> dict[str, Any]:
    return {"event": {name: body}}


def _start(core: NovaProtocol, cid: str, kind: str, role: str, stage: str | None = None) -> list:
    body: dict[str, Any] = {"contentId": cid, "type": kind, "role": role}
    if stage:
        body["additionalModelFields"] = json.dumps({"generationStage": stage})
    return core.on_event(_server("contentStart", **body))


def test_opening_sequence_order_and_fields() -> None:
    core = _core(
        voice_id="tiffany",
        endpointing_sensitivity="HIGH",
        system_prompt="Be brief.",
        tools=[NovaTool(name="weather", description="d", input_schema={"type": "object"})],
        output_sample_rate=16000,
    )
    events = core.opening_events([Turn("user", "hi"), Turn("assistant", "hello")])
    assert _names(events) == [
        "sessionStart",
        "promptStart",
        *("contentStart", "textInput", "contentEnd") * 3,
        "contentStart",
    ]
    session = _body(events[0])
    assert session["turnDetectionConfiguration"] == {"endpointingSensitivity": "HIGH"}
    prompt = _body(events[1])
    assert prompt["audioOutputConfiguration"]["voiceId"] == "tiffany"
    assert prompt["audioOutputConfiguration"]["sampleRateHertz"] == 16000
    spec = prompt["toolConfiguration"]["tools"][0]["toolSpec"]
    assert spec["name"] == "weather" and json.loads(spec["inputSchema"]["json"]) == {
        "type": "object"
    }
    system = _body(events[2])
    assert (system["role"], system["type"], system["interactive"]) == ("SYSTEM", "TEXT", False)
    assert _body(events[3])["content"] == "Be brief."
    assert [_body(events[i])["role"] for i in (5, 8)] == ["USER", "ASSISTANT"]
    audio = _body(events[-1])
    assert (audio["type"], audio["role"], audio["interactive"]) == ("AUDIO", "USER", True)
    assert audio["audioInputConfiguration"]["sampleRateHertz"] == 16000
    assert {_body(e).get("promptName") for e in events[1:]} == {core.prompt_name}


def test_no_turn_detection_block_unless_asked() -> None:
    assert "turnDetectionConfiguration" not in _body(_core().opening_events()[0])
    assert "toolConfiguration" not in _body(_core().opening_events()[1])


def test_audio_tool_result_and_closing_events() -> None:
    core = _core()
    core.opening_events()
    audio = _body(core.audio_event(b"\x01\x02"))
    assert base64.b64decode(audio["content"]) == b"\x01\x02"
    assert audio["contentName"] == core.audio_content_name
    result = core.tool_result_events("tool-1", '{"ok": true}')
    assert _names(result) == ["contentStart", "toolResult", "contentEnd"]
    start = _body(result[0])
    assert start["type"] == "TOOL" and start["role"] == "TOOL"
    assert start["toolResultInputConfiguration"]["toolUseId"] == "tool-1"
    assert _body(result[1])["content"] == '{"ok": true}'
    closing = core.closing_events()
    assert _names(closing) == ["contentEnd", "promptEnd", "sessionEnd"]
    assert _body(closing[0])["contentName"] == core.audio_content_name
    assert _names(core.closing_events()) == ["promptEnd", "sessionEnd"]


def test_a_full_reply_maps_to_session_events_and_history() -> None:
    core = _core()
    out: list = []
    out += _start(core, "u", "TEXT", "USER", "FINAL")
    out += core.on_event(_server("textOutput", contentId="u", content="what time is it"))
    out += core.on_event(_server("contentEnd", contentId="u", stopReason="END_TURN"))
    out += _start(core, "s", "TEXT", "ASSISTANT", "SPECULATIVE")
    out += core.on_event(_server("textOutput", contentId="s", content="It is noon."))
    out += core.on_event(_server("contentEnd", contentId="s", stopReason="PARTIAL_TURN"))
    out += _start(core, "a", "AUDIO", "ASSISTANT")
    pcm = b"\x10\x00" * 480
    out += core.on_event(
        _server("audioOutput", contentId="a", content=base64.b64encode(pcm).decode())
    )
    out += core.on_event(_server("contentEnd", contentId="a", stopReason="END_TURN"))
    out += _start(core, "f", "TEXT", "ASSISTANT", "FINAL")
    out += core.on_event(_server("textOutput", contentId="f", content="It is noon."))
    out += core.on_event(_server("contentEnd", contentId="f", stopReason="END_TURN"))
    out += core.on_event(
        _server("usageEvent", totalInputTokens=3, totalOutputTokens=4, totalTokens=7)
    )
    kinds = [type(e) for e in out]
    assert kinds == [
        Transcript,
        ResponseStarted,
        Transcript,
        AudioChunk,
        Transcript,
        AudioChunk,
        ResponseDone,
        Usage,
    ]
    user, interim, final = (e for e in out if isinstance(e, Transcript))
    assert (user.role, user.final, user.text) == ("user", True, "what time is it")
    assert (interim.role, interim.final) == ("assistant", False)
    assert (final.role, final.final) == ("assistant", True)
    chunk, last = (e for e in out if isinstance(e, AudioChunk))
    assert chunk.audio == pcm and chunk.sample_rate == 24000 and not chunk.is_final
    assert last.is_final and last.audio == b""
    done = out[-2]
    assert isinstance(done, ResponseDone) and done.status == "completed"
    assert out[-1] == Usage(3, 4, 7, {})
    assert [(t.role, t.text) for t in core.history] == [
        ("user", "what time is it"),
        ("assistant", "It is noon."),
    ]


def test_speculative_user_text_is_interim_and_not_history() -> None:
    core = _core()
    _start(core, "u", "TEXT", "USER", "SPECULATIVE")
    [event] = core.on_event(_server("textOutput", contentId="u", content="wha"))
    assert isinstance(event, Transcript) and not event.final
    assert core.history == []


@pytest.mark.parametrize("via", ["contentEnd", "textOutput"])
def test_interruption_cancels_the_reply_once(via: str) -> None:
    core = _core()
    _start(core, "a", "AUDIO", "ASSISTANT")
    if via == "contentEnd":
        msg = _server("contentEnd", contentId="a", stopReason="INTERRUPTED")
    else:
        msg = _server("textOutput", contentId="a", content='{ "interrupted" : true }')
    out = core.on_event(msg)
    assert [type(e) for e in out] == [Interrupted, ResponseDone]
    assert out[1].status == "cancelled"
    assert core.on_event(msg) == []


def test_tool_use_maps_to_a_tool_call() -> None:
    core = _core()
    _start(core, "t", "TOOL", "ASSISTANT")
    [call] = core.on_event(
        _server("toolUse", contentId="t", toolName="weather", toolUseId="x1", content='{"c":1}')
    )
    assert call == ToolCall(call_id="x1", name="weather", arguments='{"c":1}')
    assert call.parsed_arguments() == {"c": 1}
    assert core.on_event(_server("contentEnd", contentId="t", stopReason="TOOL_USE")) == []
    assert core.responding  # the reply continues after the tool result


@pytest.mark.parametrize(
    "message",
    [
        {"nope": {}},
        {"event": {"a": {}, "b": {}}},
        {"event": {"audioOutput": "not an object"}},
        {"event": {"audioOutput": {"content": "***not base64***"}}},
        {"event": {"toolUse": {"toolName": "x"}}},
    ],
)
def test_malformed_server_events_are_clear_errors(message: dict[str, Any]) -> None:
    with pytest.raises(S2SError) as info:
        _core().on_event(message)
    assert info.value.code is ErrorCode.MALFORMED_RESPONSE


def test_unknown_events_are_ignored() -> None:
    assert _core().on_event(_server("somethingNew", x=1)) == []


@pytest.mark.parametrize(
    ("kind", "code", "retryable"),
    [
        ("throttlingException", ErrorCode.RATE_LIMIT, True),
        ("validationException", ErrorCode.INVALID_REQUEST, False),
        ("modelTimeoutException", ErrorCode.TIMEOUT, True),
        ("internalServerException", ErrorCode.INTERNAL_ERROR, True),
        ("serviceUnavailableException", ErrorCode.MODEL_NOT_AVAILABLE, True),
        ("modelStreamErrorException", ErrorCode.STREAM_ERROR, True),
        ("InvalidSignatureException", ErrorCode.AUTHENTICATION_ERROR, False),
        ("somethingElse", ErrorCode.STREAM_ERROR, True),
    ],
)
def test_exceptions_map_to_error_codes(kind: str, code: ErrorCode, retryable: bool) -> None:
    error = exception_error(kind, b'{"message": "details here"}')
    assert error.code is code and error.is_retryable is retryable
    assert "details here" in str(error)
    assert exception_error(kind, b"\xff not json").code is code


def test_history_handover_keeps_newest_and_starts_with_user() -> None:
    history = [
        Turn("user", "a" * 10),
        Turn("assistant", "b" * 10),
        Turn("tool", "ignored"),
        Turn("user", "c" * 10),
        Turn("assistant", "d" * 10),
    ]
    kept = history_for_handover(history, 30)
    assert [t.text[0] for t in kept] == ["c", "d"]
    assert [t.text[0] for t in history_for_handover(history, 100)] == ["a", "b", "c", "d"]
    assert history_for_handover(history, 5) == []


def test_truncate_heard_cuts_the_last_assistant_turn() -> None:
    core = _core()
    _start(core, "a", "AUDIO", "ASSISTANT")
    core.on_event(
        _server("audioOutput", contentId="a", content=base64.b64encode(b"\0" * 48000).decode())
    )
    core.history.append(Turn("assistant", "one two three four five six seven eight nine ten"))
    core.truncate_heard(500.0)  # 48000 bytes at 24 kHz = 1000 ms: half was heard
    turn = core.history[-1]
    assert turn.text == "one two three four five"
    assert turn.metadata["truncated_at_ms"] == 500.0
    core.truncate_heard(None)
    assert turn.text == "one two three four five"


@pytest.mark.parametrize(
    ("status", "error_type", "code"),
    [
        (403, "InvalidSignatureException", ErrorCode.AUTHENTICATION_ERROR),
        (403, "UnrecognizedClientException:", ErrorCode.AUTHENTICATION_ERROR),
        (403, "AccessDeniedException", ErrorCode.AUTHORIZATION_ERROR),
        (429, "ThrottlingException", ErrorCode.RATE_LIMIT),
        (400, "ServiceQuotaExceededException", ErrorCode.QUOTA_EXCEEDED),
        (424, "ModelNotReadyException", ErrorCode.MODEL_NOT_AVAILABLE),
        (404, "ResourceNotFoundException", ErrorCode.NOT_FOUND),
        (503, "", ErrorCode.MODEL_NOT_AVAILABLE),
        (500, "SomethingNew", ErrorCode.INTERNAL_ERROR),
    ],
)
def test_refused_requests_map_to_error_codes(status: int, error_type: str, code: ErrorCode) -> None:
    error = status_error("connect", status, error_type, b'{"message": "why"}')
    assert error.code is code
    assert error.details["status"] == status
    assert str(error).endswith(": why")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
_names_st = st.sampled_from(
    [
        "completionStart",
        "contentStart",
        "textOutput",
        "audioOutput",
        "toolUse",
        "contentEnd",
        "usageEvent",
        "completionEnd",
        "other",
    ]
)
_fields = st.fixed_dictionaries(
    {},
    optional={
        "contentId": st.sampled_from(["a", "b"]) | _json,
        "type": st.sampled_from(["TEXT", "AUDIO", "TOOL"]) | _json,
        "role": st.sampled_from(["USER", "ASSISTANT"]) | _json,
        "additionalModelFields": st.sampled_from(['{"generationStage":"SPECULATIVE"}', "[1]", "{"])
        | _json,
        "content": st.sampled_from(['{"interrupted": true}', "AAAA", "[]"]) | _json,
        "stopReason": st.sampled_from(["END_TURN", "INTERRUPTED", "TOOL_USE"]) | _json,
        "toolUseId": _json,
        "toolName": _json,
        "details": _json,
        "totalInputTokens": _json,
    },
)


@settings(max_examples=120)
@given(st.lists(st.tuples(_names_st, _fields), max_size=8))
def test_fuzz_server_events_never_crash_the_core(messages: list[tuple[str, dict]]) -> None:
    core = _core()
    for name, body in messages:
        try:
            events = core.on_event({"event": {name: body}})
        except S2SError as exc:
            assert exc.code is ErrorCode.MALFORMED_RESPONSE
            continue
        assert isinstance(events, list)


def _wrapped(value: object) -> bytes:
    return json.dumps({"bytes": base64.b64encode(json.dumps(value).encode()).decode()}).encode()


_payloads = (
    st.binary(max_size=80)
    | _json.map(lambda v: json.dumps(v).encode())
    | _json.map(_wrapped)
    | st.tuples(_names_st, _fields).map(lambda nb: _wrapped({"event": {nb[0]: nb[1]}}))
)


@settings(max_examples=150)
@given(
    st.lists(
        st.tuples(st.sampled_from(["event", "exception", "error", "other"]), _payloads), max_size=8
    ),
    st.integers(0, 40),
)
def test_fuzz_received_frames_give_clear_errors_only(frames: list, cut: int) -> None:
    """Whatever a server sends, the receive path yields events or raises S2SError."""
    leg = Leg(
        1, H2Stream(1), _core(), ChunkSigner(ReadOnlyCredentials("a", "b", None), "us-east-1", "")
    )
    data = b"".join(
        encode_message({":message-type": kind, ":exception-type": "throttlingException"}, payload)
        for kind, payload in frames
    )
    for chunk in (data[:cut], data[cut:]):
        try:
            events = leg.decode(chunk)
        except S2SError:
            return
        assert isinstance(events, list)


def _reply(core: NovaProtocol, text: str) -> list:
    out = _start(core, "s", "TEXT", "ASSISTANT", "SPECULATIVE")
    out += core.on_event(_server("textOutput", contentId="s", content=text))
    out += core.on_event(_server("contentEnd", contentId="s", stopReason="PARTIAL_TURN"))
    out += _start(core, "a", "AUDIO", "ASSISTANT")
    out += core.on_event(_server("audioOutput", contentId="a", content="AAAA"))
    out += core.on_event(_server("contentEnd", contentId="a", stopReason="END_TURN"))
    out += _start(core, "f", "TEXT", "ASSISTANT", "FINAL")
    out += core.on_event(_server("textOutput", contentId="f", content=text))
    out += core.on_event(_server("contentEnd", contentId="f", stopReason="END_TURN"))
    out += core.on_event(_server("usageEvent", totalTokens=1))
    return out


def test_external_reasoning_hides_unsolicited_replies_and_voices_spoken_text() -> None:
    core = NovaProtocol(NovaSettings(system_prompt="Base."), [], external_reasoning=True)
    system = _body(core.opening_events()[3])["content"]
    assert system.startswith("Base.") and "<say>" in system
    out = _start(core, "u", "TEXT", "USER", "FINAL")
    out += core.on_event(_server("textOutput", contentId="u", content="hi"))
    out += _reply(core, "the model's own answer")
    assert [type(e) for e in out] == [Transcript, Usage]  # the user's words, nothing else
    assert [(t.role, t.text) for t in core.history] == [("user", "hi")]
    request = core.speak_events("Agent says </say> hello")
    said = _body(request[1])["content"]
    assert said.endswith("<say>Agent says  hello</say>")
    assert _body(request[0])["interactive"] is True
    out = _reply(core, "Agent says hello")
    assert [type(e) for e in out] == [
        ResponseStarted,
        Transcript,
        AudioChunk,
        Transcript,
        AudioChunk,
        ResponseDone,
        Usage,
    ]
    assert core.history[-1].text == "Agent says hello"
    assert [type(e) for e in _reply(core, "unasked again")] == [Usage]
