"""The carrier serializers without a socket: properties of parse/build, marks, fuzzing."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_transport_websocket_fuzz import json_values  # the same arbitrary JSON

from beluga_voice.audio import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from beluga_voice.frames import (
    BotStartedSpeakingFrame,
    ErrorFrame,
    Frame,
    InputAudioFrame,
    InputDTMFFrame,
    InterruptionFrame,
)
from beluga_voice.transports.telephony import (
    CARRIERS,
    DTMF_DIGITS,
    CarrierSerializer,
    PlaybackMarks,
    PlivoSerializer,
    TelnyxSerializer,
    TwilioSerializer,
)
from beluga_voice.transports.websocket import EndRequest, ProtocolError

NAMES = sorted(CARRIERS)
ERROR_CODES = {
    "invalid_json",
    "invalid_event",
    "unknown_event",
    "invalid_audio",
    "unsupported_audio",
}
STREAM = {"twilio": "streamSid", "telnyx": "stream_id", "plivo": "streamId"}


def start_message(carrier: str, sid: str = "S1", encoding: str | None = None) -> str:
    if carrier == "twilio":
        fmt = {"encoding": encoding or "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
        body = {"streamSid": sid, "callSid": "C1", "customParameters": {"k": "v"}}
        return json.dumps(
            {"event": "start", "streamSid": sid, "start": {**body, "mediaFormat": fmt}}
        )
    if carrier == "telnyx":
        fmt = {"encoding": encoding or "PCMU", "sample_rate": 8000, "channels": 1}
        body = {"call_control_id": "C1", "custom_parameters": {"k": "v"}, "media_format": fmt}
        return json.dumps({"event": "start", "stream_id": sid, "start": body})
    fmt = {"encoding": encoding or "audio/x-mulaw", "sampleRate": 8000}
    body = {"callId": "C1", "streamId": sid, "mediaFormat": fmt}
    return json.dumps({"event": "start", "start": body, "extra_headers": "k=v"})


def started(carrier: str, **options: Any) -> CarrierSerializer:
    serializer = CARRIERS[carrier]() if not options else TelnyxSerializer(**options)
    assert isinstance(serializer, CarrierSerializer)
    assert serializer.deserialize(start_message(carrier)) == []
    assert (serializer.stream_id, serializer.call_id) == ("S1", "C1")
    return serializer


def media_message(carrier: str, encoded: bytes, track: str = "inbound") -> str:
    media = {
        "track": track,
        "chunk": "1",
        "timestamp": "0",
        "payload": base64.b64encode(encoded).decode(),
    }
    return json.dumps({"event": "media", STREAM[carrier]: "S1", "media": media})


def outbound_payload(carrier: str, message: str | bytes | None) -> bytes:
    """What a carrier would play from one of our messages (checks its documented shape)."""
    assert isinstance(message, str)
    event = json.loads(message)
    assert event["event"] == ("playAudio" if carrier == "plivo" else "media")
    if carrier == "twilio":
        assert event["streamSid"] == "S1"
    if carrier == "plivo":
        assert event["media"]["contentType"] == "audio/x-mulaw"
        assert event["media"]["sampleRate"] == 8000
    return base64.b64decode(event["media"]["payload"], validate=True)


def echo(carrier: str, message: str | bytes | None) -> str:
    """The carrier's echo of one of our marks."""
    assert isinstance(message, str)
    event = json.loads(message)
    if carrier == "plivo":
        assert event["event"] == "checkpoint" and event["streamId"] == "S1"
        return json.dumps({"event": "playedStream", "streamId": "S1", "name": event["name"]})
    assert event["event"] == "mark"
    return json.dumps({"event": "mark", STREAM[carrier]: "S1", "mark": event["mark"]})


@pytest.mark.parametrize("carrier", NAMES)
@given(encoded=st.binary(min_size=1, max_size=800))
@settings(max_examples=60, deadline=None)
def test_caller_audio_is_the_decoded_payload(carrier: str, encoded: bytes) -> None:
    serializer = started(carrier)
    [frame] = serializer.deserialize(media_message(carrier, encoded))
    assert isinstance(frame, InputAudioFrame)
    assert (frame.audio, frame.sample_rate, frame.channels) == (ulaw_decode(encoded), 8000, 1)
    assert serializer.deserialize(media_message(carrier, encoded, track="outbound")) == []


@pytest.mark.parametrize("carrier", NAMES)
@given(encoded=st.binary(min_size=1, max_size=800))
@settings(max_examples=60, deadline=None)
def test_bot_audio_reaches_the_carrier_as_the_same_g711(carrier: str, encoded: bytes) -> None:
    serializer = started(carrier)
    pcm = ulaw_decode(encoded)  # PCM that mu-law represents exactly
    assert outbound_payload(carrier, serializer.serialize_audio(pcm)) == ulaw_encode(pcm)


@given(encoded=st.binary(min_size=1, max_size=400))
@settings(max_examples=40, deadline=None)
def test_telnyx_a_law_both_ways(encoded: bytes) -> None:
    serializer = TelnyxSerializer()
    serializer.deserialize(start_message("telnyx", encoding="PCMA"))
    assert serializer.codec == "pcma"
    [frame] = serializer.deserialize(media_message("telnyx", encoded))
    assert isinstance(frame, InputAudioFrame) and frame.audio == alaw_decode(encoded)
    pcm = alaw_decode(encoded)
    assert outbound_payload("telnyx", serializer.serialize_audio(pcm)) == alaw_encode(pcm)


@pytest.mark.parametrize("carrier", NAMES)
@given(
    chunks=st.lists(st.integers(1, 400), min_size=1, max_size=20),
    played=st.integers(0, 20),
    late=st.integers(0, 20),
)
@settings(max_examples=60, deadline=None)
def test_barge_in_reports_the_last_mark_echoed_before_the_clear(
    carrier: str, chunks: list[int], played: int, late: int
) -> None:
    serializer = started(carrier)
    serializer.serialize(BotStartedSpeakingFrame())
    marks, ends, total = [], [], 0
    for samples in chunks:
        serializer.serialize_audio(bytes(2 * samples))
        marks.append(serializer.audio_mark())
        total += samples
        ends.append(total)
    played = min(played, len(chunks))
    for mark in marks[:played]:
        assert serializer.deserialize(echo(carrier, mark)) == []
    assert serializer.played_seconds() is None  # not interrupted: pacing counts
    clear = json.loads(serializer.serialize(InterruptionFrame()) or "")
    assert clear["event"] == ("clearAudio" if carrier == "plivo" else "clear")
    for mark in marks[played : played + late]:  # returned by the clear: not played
        serializer.deserialize(echo(carrier, mark))
    heard = ends[played - 1] if played else 0
    assert serializer.played_seconds() == pytest.approx(heard / 8000)
    serializer.serialize(BotStartedSpeakingFrame())  # the next reply starts afresh
    assert serializer.played_seconds() is None
    assert serializer.serialize(InterruptionFrame()) is None  # nothing of it sent yet


def test_marks_of_another_reply_or_not_ours_are_ignored() -> None:
    marks = PlaybackMarks()
    marks.begin()
    name = marks.sent(800)
    marks.begin()
    marks.sent(160)
    for foreign in (name, "greeting", "2:x", "2:99999", "2:\u00b2", "2:" + "9" * 5000):
        marks.echoed(foreign)
    assert marks.played_samples == 160  # capped at what was sent; the rest ignored
    marks.clear()
    assert marks.heard_seconds == pytest.approx(0.02)


@pytest.mark.parametrize("carrier", NAMES)
@given(digit=st.sampled_from(sorted(DTMF_DIGITS)))
@settings(max_examples=16, deadline=None)
def test_keypresses_become_dtmf_frames(carrier: str, digit: str) -> None:
    serializer = started(carrier)
    body = {"event": "dtmf", STREAM[carrier]: "S1", "dtmf": {"digit": digit, "duration": "120"}}
    [frame] = serializer.deserialize(json.dumps(body))
    assert frame == InputDTMFFrame(digit, 120.0)
    with pytest.raises(ProtocolError):
        serializer.deserialize(json.dumps({**body, "dtmf": {"digit": "55"}}))


@pytest.mark.parametrize(
    ("carrier", "encoding"),
    [("twilio", "audio/x-l16"), ("telnyx", "OPUS"), ("telnyx", "L16"), ("plivo", "audio/x-l16")],
)
def test_a_stream_that_is_not_g711_is_refused_with_what_to_set(carrier: str, encoding: str) -> None:
    with pytest.raises(ProtocolError, match="PCMU") as info:
        CARRIERS[carrier]().deserialize(start_message(carrier, encoding=encoding))
    assert (info.value.code, info.value.close_code) == ("unsupported_audio", 1003)


@pytest.mark.parametrize("rate", ["Infinity", "NaN", "1e999", '"8k"', "[]"])
def test_a_nonsense_sample_rate_is_a_protocol_error(rate: str) -> None:
    start = start_message("twilio").replace('"sampleRate": 8000', f'"sampleRate": {rate}')
    with pytest.raises(ProtocolError, match="sample rate"):
        TwilioSerializer().deserialize(start)


def test_hang_up_and_carrier_errors() -> None:
    twilio, telnyx = started("twilio"), started("telnyx")
    assert twilio.deserialize('{"event":"stop","stop":{}}') == [EndRequest("twilio_stop", False)]
    assert telnyx.deserialize('{"event":"stop"}') == [EndRequest("telnyx_stop", False)]
    error = {"event": "error", "payload": {"code": 100003, "title": "malformed_frame"}}
    [frame] = telnyx.deserialize(json.dumps(error))
    assert isinstance(frame, ErrorFrame) and frame.code == "carrier_error"
    assert "100003 malformed_frame" in frame.message
    plivo = started("plivo")
    assert plivo.deserialize('{"event":"clearedAudio","streamId":"S1"}') == []
    assert plivo.custom_parameters == {"extra_headers": "k=v"}


def test_nothing_is_sent_before_the_carrier_named_the_stream() -> None:
    for carrier in NAMES:
        serializer = CARRIERS[carrier]()
        assert serializer.serialize_audio(bytes(320)) is None
        assert serializer.audio_mark() is None
        assert serializer.serialize(InterruptionFrame()) is None


# -- fuzzing -----------------------------------------------------------------------------

event_names = st.sampled_from(
    [
        "connected",
        "start",
        "media",
        "stop",
        "mark",
        "dtmf",
        "error",
        "playedStream",
        "clearedAudio",
        "x",
    ]
)
carrier_events = st.fixed_dictionaries(
    {"event": event_names | json_values},
    optional={
        "streamSid": json_values,
        "stream_id": json_values,
        "streamId": json_values,
        "name": json_values,
        "start": st.fixed_dictionaries(
            {},
            optional={
                "streamSid": json_values,
                "streamId": json_values,
                "mediaFormat": st.dictionaries(
                    st.sampled_from(["encoding", "sampleRate"]), json_values
                ),
                "media_format": st.dictionaries(
                    st.sampled_from(["encoding", "sample_rate"]), json_values
                ),
                "customParameters": json_values,
            },
        )
        | json_values,
        "media": st.fixed_dictionaries(
            {},
            optional={
                "payload": st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode())
                | json_values,
                "track": st.sampled_from(["inbound", "outbound"]) | json_values,
            },
        )
        | json_values,
        "dtmf": st.fixed_dictionaries({}, optional={"digit": json_values, "duration": json_values})
        | json_values,
        "mark": st.fixed_dictionaries({}, optional={"name": json_values}) | json_values,
        "payload": json_values,
    },
).map(json.dumps)
messages = st.one_of(
    st.binary(max_size=300), st.text(max_size=100), json_values.map(json.dumps), carrier_events
)


def _check(items: list[Frame | EndRequest]) -> None:
    for item in items:
        assert isinstance(item, Frame | EndRequest)
        if isinstance(item, InputAudioFrame):
            assert item.audio and len(item.audio) % 2 == 0


@pytest.mark.parametrize("factory", [TwilioSerializer, TelnyxSerializer, PlivoSerializer])
@given(batch=st.lists(messages, max_size=8))
@settings(max_examples=150, deadline=None)
def test_any_message_is_parsed_or_refused_with_a_protocol_error(
    factory: type[CarrierSerializer], batch: list[str | bytes]
) -> None:
    serializer = factory()
    for message in batch:
        try:
            _check(serializer.deserialize(message))
        except ProtocolError as exc:
            assert exc.code in ERROR_CODES
    serializer.serialize(BotStartedSpeakingFrame())
    out = serializer.serialize_audio(bytes(320))
    assert (out is None) == (serializer.stream_id is None)
    played = serializer.played_seconds()
    assert played is None or played >= 0
