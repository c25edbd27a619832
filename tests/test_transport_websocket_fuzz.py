"""Fuzzing the WebSocket message handling: serializers alone, then a live server."""

from __future__ import annotations

import base64
import json
from typing import Any

import anyio
import numpy as np
import pytest
from anyio.from_thread import start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from beluga_voice.frames import (
    Direction,
    Frame,
    InputAudioFrame,
    InterruptionFrame,
    OutputAudioFrame,
    StartFrame,
)
from beluga_voice.pipeline import FrameProcessor
from beluga_voice.transports.websocket import (
    DefaultSerializer,
    EndRequest,
    ProtocolError,
    ServerConfig,
    TwilioSerializer,
    WebSocketServer,
    WebSocketTransport,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)
default_events = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "interrupt", "end", "nope", ""]) | st.text(max_size=8)},
    optional={"text": json_values},
).map(json.dumps)
twilio_events = st.fixed_dictionaries(
    {"event": st.sampled_from(["connected", "start", "media", "stop", "mark", "dtmf", "x"])},
    optional={
        "streamSid": json_values,
        "start": st.fixed_dictionaries({}, optional={"streamSid": json_values}) | json_values,
        "media": st.fixed_dictionaries(
            {},
            optional={
                "payload": st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode())
                | json_values,
                "track": st.sampled_from(["inbound", "outbound"]) | json_values,
            },
        )
        | json_values,
    },
).map(json.dumps)
messages = st.one_of(
    st.binary(max_size=3000),
    st.text(max_size=200),
    json_values.map(json.dumps),
    default_events,
    twilio_events,
)


ERROR_CODES = {"invalid_json", "invalid_event", "unknown_event", "invalid_audio"}


def _check(items: list[Frame | EndRequest]) -> None:
    for item in items:
        assert isinstance(item, Frame | EndRequest)
        if isinstance(item, InputAudioFrame):
            assert item.audio and len(item.audio) % 2 == 0


@given(messages)
@settings(max_examples=400, deadline=None)
def test_default_serializer_accepts_or_rejects_cleanly(message: str | bytes) -> None:
    serializer = DefaultSerializer(max_audio_bytes=2000)
    serializer.greeting(StartFrame(input_sample_rate=16000), "s1")
    try:
        items = serializer.deserialize(message)
    except ProtocolError as exc:
        assert exc.code in ERROR_CODES
        assert json.loads(serializer.error(exc.code, exc.message) or "")["type"] == "error"
        return
    _check(items)


@given(st.lists(messages, max_size=6))
@settings(max_examples=300, deadline=None)
def test_twilio_serializer_accepts_or_rejects_cleanly(batch: list[str | bytes]) -> None:
    serializer = TwilioSerializer()
    for message in batch:
        try:
            _check(serializer.deserialize(message))
        except ProtocolError as exc:
            assert exc.code in ERROR_CODES
    out = serializer.serialize_audio(bytes(320))
    assert (out is None) == (serializer.stream_sid is None)


def test_twilio_serializer_addresses_the_stream_and_clears_on_barge_in() -> None:
    serializer = TwilioSerializer()
    assert serializer.serialize(InterruptionFrame()) is None  # no stream yet
    start = {"event": "start", "start": {"streamSid": "MZ9", "callSid": "CA9"}}
    assert serializer.deserialize(json.dumps(start)) == []
    assert serializer.call_sid == "CA9"
    assert serializer.serialize(InterruptionFrame()) is None  # nothing sent: nothing to clear
    assert serializer.serialize_audio(bytes(320)) is not None
    clear = json.loads(serializer.serialize(InterruptionFrame()) or "")
    assert clear == {"event": "clear", "streamSid": "MZ9"}
    outbound = {"event": "media", "media": {"track": "outbound", "payload": "AAAA"}}
    assert serializer.deserialize(json.dumps(outbound)) == []
    assert serializer.deserialize('{"event": "stop"}') == [
        EndRequest("twilio_stop", graceful=False)
    ]
    with pytest.raises(ProtocolError, match="base64"):
        serializer.deserialize('{"event": "media", "media": {"payload": "!!"}}')


class Echo(FrameProcessor):
    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, InputAudioFrame):
            frame = OutputAudioFrame(frame.audio, frame.sample_rate)
        await self.push_frame(frame, direction)


def _build(t: WebSocketTransport) -> list[Any]:
    return [t.input(), Echo(), t.output()]


async def _session(url: str, batch: list[str | bytes]) -> tuple[int | None, bytes]:
    """Send ``batch`` then one good frame and 'end'; return the close code and echoed audio."""
    good = np.arange(320, dtype="<i2").tobytes()
    audio = bytearray()
    with anyio.fail_after(10):
        async with connect(url, max_size=None) as ws:
            assert json.loads(await ws.recv())["type"] == "session.started"
            try:
                for message in [*batch, good, '{"type": "end"}']:
                    await ws.send(message)
                async for reply in ws:
                    if isinstance(reply, bytes):
                        audio += reply
                    else:
                        event = json.loads(reply)
                        if event["type"] == "error":  # every complaint is a known code
                            assert event["code"] in ERROR_CODES, event
            except ConnectionClosed:
                pass
            return ws.close_code, bytes(audio)


def _interrupts(batch: list[str | bytes]) -> bool:
    serializer = DefaultSerializer()
    for message in batch:
        try:
            if any(isinstance(f, InterruptionFrame) for f in serializer.deserialize(message)):
                return True
        except ProtocolError:
            pass
    return False


@pytest.mark.parametrize("engine", ["picows", "websockets"])
def test_fuzzing_a_live_server_never_breaks_it(engine: Any) -> None:
    """Random message sequences: each session ends cleanly, and the server keeps serving."""
    cfg = ServerConfig(
        engine=engine,
        input_sample_rate=16000,
        output_sample_rate=16000,
        realtime=False,
        max_message_bytes=2048,
        max_protocol_errors=5,
    )
    with start_blocking_portal() as portal:
        server = WebSocketServer(_build, cfg)
        portal.call(server.start)
        try:
            good = np.arange(320, dtype="<i2").tobytes()

            @given(st.lists(messages, max_size=8))
            @settings(
                max_examples=60,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            )
            def one(batch: list[str | bytes]) -> None:
                code, audio = portal.call(_session, server.url, batch)
                assert code in (1000, 1008, 1009)
                # The good frame comes back last, unless a client 'interrupt' flushed it on
                # its way (an interruption drops bot audio queued behind it: by design).
                if code == 1000 and not _interrupts(batch):
                    assert audio.endswith(good)

            one()
            code, audio = portal.call(_session, server.url, [])
            assert (code, audio) == (1000, good)
            assert server.sessions_failed == 0
        finally:
            portal.call(server.close)
