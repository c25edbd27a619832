"""Unit tests of the Gemini Live sans-I/O core: no sockets, a fake clock."""

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
    SessionReady,
    ToolCall,
    ToolCallCancelled,
    Transcript,
    Usage,
)
from beluga_voice.providers.gemini_live import (
    SPEAK_PREFIX,
    GeminiLiveProtocol,
    GeminiSettings,
    Phase,
    build_setup,
    code_from_gemini_close,
    endpoint_url,
)
from beluga_voice.testing.fake_gemini.schema import check_client_message, check_server_message


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def open_core(**settings: Any) -> tuple[GeminiLiveProtocol, Clock]:
    clock = Clock()
    external = settings.pop("external", False)
    core = GeminiLiveProtocol(GeminiSettings(**settings), external_reasoning=external, clock=clock)
    setup = core.start_connection()
    check_client_message(setup)
    assert core.receive('{"setupComplete": {}}') == [SessionReady(session_id=None)]
    assert core.take_ready() == []
    return core, clock


def content(**fields: Any) -> str:
    message = json.dumps({"serverContent": fields})
    assert check_server_message(message) is None, message
    return message


def audio_part(pcm: bytes) -> dict[str, Any]:
    data = base64.b64encode(pcm).decode()
    return {"parts": [{"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": data}}]}


def kinds(messages: list[str]) -> list[str]:
    out = []
    for text in messages:
        kind, body = check_client_message(text)
        out.append(kind if kind != "realtimeInput" else next(iter(body)))
    return out


# -- setup --------------------------------------------------------------------------------


def test_setup_defaults_validate_and_ask_for_audio_transcripts_and_resumption() -> None:
    setup = build_setup(GeminiSettings())
    check_client_message(json.dumps(setup))
    body = setup["setup"]
    assert body["model"] == "models/gemini-3.8-live"
    assert body["generationConfig"]["responseModalities"] == ["AUDIO"]
    assert body["realtimeInputConfig"]["automaticActivityDetection"] == {"disabled": False}
    assert body["inputAudioTranscription"] == {} and body["outputAudioTranscription"] == {}
    assert body["sessionResumption"] == {}
    assert body["contextWindowCompression"] == {"slidingWindow": {}}


def test_setup_with_every_option_validates() -> None:
    settings = GeminiSettings(
        model="gemini-live-2.5-flash",
        voice="Kore",
        speech_language="en-US",
        system_instruction="Be brief.",
        activity_detection="manual",
        start_sensitivity="low",
        end_sensitivity="high",
        prefix_padding_ms=20,
        silence_duration_ms=500,
        barge_in=False,
        tools=[{"name": "get_weather", "description": "Weather", "parameters": {"type": "object"}}],
        compression_trigger_tokens=20000,
    )
    setup = build_setup(settings, external_reasoning=True, resume_handle="h-1")
    check_client_message(json.dumps(setup))
    body = setup["setup"]
    assert body["model"] == "models/gemini-live-2.5-flash"
    detection = body["realtimeInputConfig"]["automaticActivityDetection"]
    assert detection["disabled"] is True
    assert detection["startOfSpeechSensitivity"] == "START_SENSITIVITY_LOW"
    assert detection["endOfSpeechSensitivity"] == "END_SENSITIVITY_HIGH"
    assert body["realtimeInputConfig"]["activityHandling"] == "NO_INTERRUPTION"
    assert body["sessionResumption"] == {"handle": "h-1"}
    assert "Be brief." in body["systemInstruction"]["parts"][0]["text"]
    assert "Say exactly this" in body["systemInstruction"]["parts"][0]["text"]
    assert body["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"


def test_vertex_settings_make_the_regional_url_and_resource_name() -> None:
    settings = GeminiSettings(
        vertexai=True, project="p1", location="europe-west4", transparent_resumption=True
    )
    assert endpoint_url(settings) == (
        "wss://europe-west4-aiplatform.googleapis.com/ws/"
        "google.cloud.aiplatform.v1beta.LlmBidiService/BidiGenerateContent"
    )
    assert settings.wire_model.startswith("projects/p1/locations/europe-west4/publishers/google/")
    assert build_setup(settings)["setup"]["sessionResumption"] == {"transparent": True}


@pytest.mark.parametrize(
    "bad",
    [
        {"vertexai": True},
        {"transparent_resumption": True},
        {"base_url": "http://x"},
        {"activity_detection": "sometimes"},
        {"no_such_key": 1},
    ],
)
def test_bad_settings_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        GeminiSettings(**bad)


# -- client messages ----------------------------------------------------------------------


def test_audio_before_setup_complete_is_held_then_released_in_order() -> None:
    core = GeminiLiveProtocol(GeminiSettings())
    core.start_connection()
    assert core.send_audio(b"\x01\x00" * 160) == []
    assert core.send_audio(b"\x02\x00" * 160) == []
    core.receive('{"setupComplete": {}}')
    ready = core.take_ready()
    assert kinds(ready) == ["audio", "audio"]
    first = json.loads(ready[0])["realtimeInput"]["audio"]
    assert first["mimeType"] == "audio/pcm;rate=16000"
    assert base64.b64decode(first["data"]) == b"\x01\x00" * 160


def test_odd_audio_is_refused_with_a_clear_error() -> None:
    core, _ = open_core()
    with pytest.raises(S2SError) as info:
        core.send_audio(b"\x00\x00\x00")
    assert info.value.code is ErrorCode.INVALID_AUDIO_FORMAT


def test_manual_mode_brackets_a_turn_with_activity_signals() -> None:
    core, _ = open_core(activity_detection="manual")
    sent = core.send_audio(b"\x00\x00" * 10) + core.send_audio(b"\x00\x00" * 10)
    sent += core.end_turn()
    assert kinds(sent) == ["activityStart", "audio", "audio", "activityEnd"]
    assert core.end_turn() == []  # no open turn: nothing to end
    assert kinds(core.send_audio(b"\x00\x00")) == ["activityStart", "audio"]


def test_automatic_mode_end_turn_flushes_with_audio_stream_end() -> None:
    core, _ = open_core()
    assert kinds(core.end_turn()) == ["audioStreamEnd"]


def test_text_speak_and_tool_results_are_valid_messages() -> None:
    core, _ = open_core()
    text = json.loads(core.send_text("What time is it?")[0])
    assert text["clientContent"]["turnComplete"] is True
    said = json.loads(core.speak("It is noon.")[0])
    assert said["clientContent"]["turns"][0]["parts"][0]["text"] == SPEAK_PREFIX + "It is noon."
    with pytest.raises(S2SError) as info:
        core.send_tool_result("nope", "{}")
    assert info.value.code is ErrorCode.INVALID_INPUT
    call = {"functionCalls": [{"id": "c1", "name": "clock", "args": {"tz": "UTC"}}]}
    events = core.receive(json.dumps({"toolCall": call}))
    assert events == [ToolCall("c1", "clock", '{"tz": "UTC"}')]
    [reply] = core.send_tool_result("c1", '{"time": "12:00"}')
    check_client_message(reply)
    response = json.loads(reply)["toolResponse"]["functionResponses"][0]
    assert response == {"id": "c1", "name": "clock", "response": {"time": "12:00"}}
    core.receive(json.dumps({"toolCall": {"functionCalls": [{"id": "c2", "name": "clock"}]}}))
    wrapped = json.loads(core.send_tool_result("c2", "plain text")[0])
    assert wrapped["toolResponse"]["functionResponses"][0]["response"] == {"output": "plain text"}


def test_empty_text_is_invalid_input() -> None:
    core, _ = open_core()
    for op in (core.send_text, core.speak):
        with pytest.raises(S2SError) as info:
            op("  ")
        assert info.value.code is ErrorCode.INVALID_INPUT


# -- server messages ----------------------------------------------------------------------


def test_a_reply_maps_to_started_audio_transcripts_and_done() -> None:
    core, _ = open_core()
    events = core.receive(content(inputTranscription={"text": "hello "}))
    events += core.receive(content(inputTranscription={"text": "there"}))
    events += core.receive(content(outputTranscription={"text": "Hi "}))
    events += core.receive(content(modelTurn=audio_part(b"\x01\x00" * 480)))
    events += core.receive(content(outputTranscription={"text": "you."}))
    events += core.receive(content(generationComplete=True))
    events += core.receive(content(turnComplete=True))
    assert [type(e).__name__ for e in events] == [
        "Transcript",
        "Transcript",
        "Transcript",  # final user transcript, flushed when the reply starts
        "ResponseStarted",
        "Transcript",
        "AudioChunk",
        "Transcript",
        "AudioChunk",  # the empty is_final chunk
        "Transcript",
        "ResponseDone",
    ]
    assert events[2] == Transcript("user", "hello there", final=True)
    rid = events[3].response_id  # type: ignore[union-attr]
    audio = events[5]
    assert isinstance(audio, AudioChunk) and audio.sample_rate == 24000
    assert audio.audio == b"\x01\x00" * 480 and audio.response_id == rid
    assert events[8] == Transcript("assistant", "Hi you.", final=True, item_id=rid)
    assert events[9] == ResponseDone(rid, "completed", None)


def test_interrupted_cancels_the_reply_and_the_late_turn_complete_is_ignored() -> None:
    core, _ = open_core()
    started = core.receive(content(modelTurn=audio_part(b"\x00\x00" * 10)))
    rid = next(e.response_id for e in started if isinstance(e, ResponseStarted))
    events = core.receive(content(interrupted=True))
    assert events == [Interrupted(rid), ResponseDone(rid, "cancelled", "interrupted")]
    assert core.receive(content(turnComplete=True)) == []


def test_client_interrupt_drops_the_rest_of_the_reply() -> None:
    core, _ = open_core()
    core.receive(content(modelTurn=audio_part(b"\x00\x00" * 10)))
    messages, events = core.interrupt(played_ms=120.0)
    assert messages == []  # automatic mode: the server hears the user itself
    assert [type(e) for e in events] == [ResponseDone]
    assert events[0].status == "cancelled"  # type: ignore[union-attr]
    assert core.receive(content(modelTurn=audio_part(b"\x00\x00" * 10))) == []
    assert core.receive(content(turnComplete=True)) == []
    assert any(
        isinstance(e, ResponseStarted)
        for e in core.receive(content(modelTurn=audio_part(b"\x00\x00")))
    )


def test_manual_client_interrupt_sends_activity_start() -> None:
    core, _ = open_core(activity_detection="manual")
    core.receive(content(modelTurn=audio_part(b"\x00\x00" * 10)))
    messages, _ = core.interrupt(None)
    assert kinds(messages) == ["activityStart"]
    assert kinds(core.send_audio(b"\x00\x00")) == ["audio"]  # the turn is already open


def test_tool_cancellation_usage_and_voice_activity() -> None:
    core, _ = open_core()
    core.receive(json.dumps({"toolCall": {"functionCalls": [{"id": "a", "name": "f"}]}}))
    assert core.receive('{"toolCallCancellation": {"ids": ["a"]}}') == [ToolCallCancelled(("a",))]
    with pytest.raises(S2SError):
        core.send_tool_result("a", "{}")
    usage = core.receive('{"usageMetadata": {"promptTokenCount": 3, "responseTokenCount": 4}}')
    assert usage[0] == Usage(3, 4, 7, details={"promptTokenCount": 3, "responseTokenCount": 4})
    kinds_seen = [
        type(e).__name__
        for t in ("ACTIVITY_START", "ACTIVITY_END")
        for e in core.receive(json.dumps({"voiceActivity": {"voiceActivityType": t}}))
    ]
    assert kinds_seen == ["SpeechStarted", "SpeechStopped"]


def test_binary_frames_and_unknown_fields_are_accepted() -> None:
    core, _ = open_core()
    assert core.receive(b'{"somethingNew": {"x": 1}}') == []
    events = core.receive(content(outputTranscription={"text": "hi"}).encode())
    assert any(isinstance(e, Transcript) for e in events)


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe",
        "not json",
        "[1, 2]",
        '{"serverContent": []}',
        '{"serverContent": {"modelTurn": {"parts": [{"inlineData": {"data": "%%%"}}]}}}',
        '{"serverContent": {"modelTurn": {"parts": [{"inlineData": {"mimeType": "video/mp4", "data": ""}}]}}}',
        '{"toolCall": {"functionCalls": [{"name": "f"}]}}',
        '{"serverContent": {"turnComplete": "yes"}}',
    ],
)
def test_malformed_server_messages_are_clear_errors(raw: str | bytes) -> None:
    core, _ = open_core()
    with pytest.raises(S2SError) as info:
        core.receive(raw)
    assert info.value.code is ErrorCode.MALFORMED_RESPONSE
    assert str(info.value).startswith("receive: malformed_response: gemini: ")


def test_in_band_error_message_becomes_an_s2s_error() -> None:
    core, _ = open_core()
    with pytest.raises(S2SError) as info:
        core.receive('{"error": {"code": 429, "message": "Resource exhausted", "status": "X"}}')
    assert info.value.code is ErrorCode.RATE_LIMIT


def test_content_before_setup_complete_is_a_protocol_error() -> None:
    core = GeminiLiveProtocol(GeminiSettings())
    core.start_connection()
    with pytest.raises(S2SError) as info:
        core.receive(content(turnComplete=True))
    assert info.value.code is ErrorCode.INVALID_RESPONSE


# -- external reasoning -------------------------------------------------------------------


def test_external_reasoning_drops_unsolicited_replies_and_plays_spoken_ones() -> None:
    core, _ = open_core(external=True)
    events = core.receive(content(inputTranscription={"text": "hi", "finished": True}))
    assert events[-1] == Transcript("user", "hi", final=True)
    assert core.receive(content(modelTurn=audio_part(b"\x00\x00" * 4))) == []
    assert core.receive(content(outputTranscription={"text": "I answer myself"})) == []
    assert core.receive(content(turnComplete=True)) == []
    core.speak("The agent's answer.")
    events = core.receive(content(modelTurn=audio_part(b"\x01\x00" * 4)))
    assert [type(e) for e in events] == [ResponseStarted, AudioChunk]


# -- reconnect bookkeeping ----------------------------------------------------------------


def test_handle_without_index_keeps_recent_messages_for_replay() -> None:
    core, clock = open_core(replay_margin_s=1.0)
    core.send_audio(b"\x01\x00" * 100)
    clock.now += 5
    core.send_audio(b"\x02\x00" * 100)
    clock.now += 0.5
    core.receive('{"sessionResumptionUpdate": {"newHandle": "h1", "resumable": true}}')
    assert core.resume_handle == "h1"
    assert core.replay_bytes == 200  # the old chunk is covered; the recent one may not be
    core.send_audio(b"\x03\x00" * 100)
    core.receive('{"goAway": {"timeLeft": "5s"}}')
    assert core.reconnect_wanted
    setup = json.loads(core.start_connection())
    assert setup["setup"]["sessionResumption"] == {"handle": "h1"}
    assert core.send_audio(b"\x04\x00" * 100) == []  # held while the new setup is pending
    core.receive('{"setupComplete": {}}')  # no second SessionReady
    replay = [json.loads(m)["realtimeInput"]["audio"]["data"] for m in core.take_ready()]
    assert [base64.b64decode(d)[:2] for d in replay] == [b"\x02\x00", b"\x03\x00", b"\x04\x00"]


def test_transparent_index_trims_replay_exactly() -> None:
    core, _ = open_core(vertexai=True, project="p", location="l", transparent_resumption=True)
    for n in range(4):  # messages 1..4 of this connection (setup is 0)
        core.send_audio(bytes([n + 1, 0]) * 10)
    update = {"newHandle": "h", "resumable": True, "lastConsumedClientMessageIndex": "2"}
    core.receive(json.dumps({"sessionResumptionUpdate": update}))
    assert core.replay_bytes == 40
    core.start_connection()
    core.receive('{"setupComplete": {}}')
    first = [
        base64.b64decode(json.loads(m)["realtimeInput"]["audio"]["data"])[0]
        for m in core.take_ready()
    ]
    assert first == [3, 4]


def test_not_resumable_updates_keep_the_old_handle() -> None:
    core, _ = open_core()
    core.receive('{"sessionResumptionUpdate": {"newHandle": "h1", "resumable": true}}')
    core.receive('{"sessionResumptionUpdate": {"resumable": false}}')
    assert core.resume_handle == "h1"


def test_go_away_waits_for_the_reply_to_finish() -> None:
    core, _ = open_core()
    core.receive('{"sessionResumptionUpdate": {"newHandle": "h1", "resumable": true}}')
    core.receive(content(modelTurn=audio_part(b"\x00\x00")))
    core.receive('{"goAway": {"timeLeft": "1s"}}')
    assert not core.reconnect_wanted
    core.receive(content(turnComplete=True))
    assert core.reconnect_wanted


def test_replay_buffer_is_bounded() -> None:
    core, _ = open_core(max_replay_s=1.0)
    for _ in range(3):
        core.send_audio(bytes(32000))  # one second each
    assert core.replay_bytes == 32000
    assert core.dropped_audio_bytes == 64000


def test_connection_lost_verdicts() -> None:
    core, _ = open_core()
    verdict = core.connection_lost(1006, "")
    assert not verdict.reconnect and verdict.error is not None  # no handle: cannot resume
    assert verdict.error.code is ErrorCode.NETWORK_ERROR
    core, _ = open_core()
    core.receive('{"sessionResumptionUpdate": {"newHandle": "h1", "resumable": true}}')
    assert core.connection_lost(1006, "").reconnect
    core, _ = open_core()
    clean = core.connection_lost(1000, "bye")
    assert clean.error is None and "1000" in clean.reason and core.phase == Phase.CLOSED


@pytest.mark.parametrize(
    ("code", "reason", "expected"),
    [
        (1008, "API key not valid. Please pass a valid API key.", ErrorCode.AUTHENTICATION_ERROR),
        (1008, "Method doesn't allow unregistered callers", ErrorCode.AUTHENTICATION_ERROR),
        (1011, "You exceeded your current quota", ErrorCode.QUOTA_EXCEEDED),
        (1011, "RESOURCE_EXHAUSTED: rate limit", ErrorCode.RATE_LIMIT),
        (1008, "models/foo is not found for API version v1beta", ErrorCode.INVALID_MODEL),
        (1011, "Deadline expired before operation could complete.", ErrorCode.TIMEOUT),
        (1011, "The service is currently unavailable.", ErrorCode.MODEL_NOT_AVAILABLE),
        (1007, "Request contains an invalid argument.", ErrorCode.INVALID_REQUEST),
        (1011, "Internal error encountered.", ErrorCode.INTERNAL_ERROR),
        (1011, "", ErrorCode.INTERNAL_ERROR),
        (None, "", ErrorCode.NETWORK_ERROR),
        (1000, "quota", ErrorCode.STREAM_CLOSED),
    ],
)
def test_close_reasons_map_to_error_codes(
    code: int | None, reason: str, expected: ErrorCode
) -> None:
    assert code_from_gemini_close(code, reason) is expected


def test_margin_replay_never_repeats_a_text_turn() -> None:
    core, clock = open_core(replay_margin_s=1.0)
    core.send_audio(b"\x05\x00" * 10)
    core.send_text("book the table")
    clock.now += 0.2
    core.receive('{"sessionResumptionUpdate": {"newHandle": "h1", "resumable": true}}')
    core.start_connection()
    core.receive('{"setupComplete": {}}')
    # The audio may not be covered and is sent again; the text turn is not (answered twice).
    assert kinds(core.take_ready()) == ["audio"]


def test_held_audio_is_bounded_while_disconnected() -> None:
    core, _ = open_core(max_replay_s=1.0)
    core.start_connection()  # a reconnect is under way: everything is held
    for _ in range(3):
        assert core.send_audio(bytes(32000)) == []
    assert core.replay_bytes == 32000 and core.dropped_audio_bytes == 64000
    core.receive('{"setupComplete": {}}')
    assert kinds(core.take_ready()) == ["audio"]
    assert core.last_replay_bytes == 32000


def test_vertex_spellings_of_usage_and_voice_activity() -> None:
    core, _ = open_core()
    [usage] = core.receive('{"usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 5}}')
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (2, 5, 7)
    [started] = core.receive('{"voiceActivity": {"type": "ACTIVITY_START"}}')
    assert type(started).__name__ == "SpeechStarted"
