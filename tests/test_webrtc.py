"""WebRTC calls on loopback against an aiortc client: media both ways, events on the data
channel, signalling limits (token, sessions, deadlines, bad offers) and clean release."""

from __future__ import annotations

import fractions
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import numpy as np
import pytest

pytest.importorskip("aiortc", reason="the webrtc extra is not installed")

from aioice.ice import get_host_addresses
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from beluga_voice.frames import (
    Direction,
    Frame,
    InputAudioFrame,
    OutputAudioFrame,
    TextFrame,
    TranscriptionFrame,
)
from beluga_voice.pipeline import FrameProcessor
from beluga_voice.processors.resample import ResampleProcessor
from beluga_voice.secrets import redact
from beluga_voice.transports.webrtc import IceServer, WebRTCConfig, WebRTCServer
from beluga_voice.transports.websocket import CLOSE_TRY_AGAIN, ServerConfig, WebSocketTransport

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        not get_host_addresses(True, False),
        reason="ICE needs a non-loopback IPv4 address (aioice skips 127.0.0.1)",
    ),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiortc runs on asyncio only


class Echo(FrameProcessor):
    """User audio back as bot audio; typed text back as an assistant transcript."""

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, InputAudioFrame):
            frame = OutputAudioFrame(frame.audio, frame.sample_rate, frame.channels)
        elif isinstance(frame, TextFrame):
            frame = TranscriptionFrame(f"you said {frame.text}", role="assistant")
        await self.push_frame(frame, direction)


def echo_pipeline(transport: WebSocketTransport) -> list[Any]:
    # A WebRTC pipeline plays at 48 kHz (Opus's rate): the echo is resampled up to it.
    up = ResampleProcessor(48000, frame_type=OutputAudioFrame)
    return [transport.input(), Echo(), up, transport.output()]


class ToneTrack(MediaStreamTrack):
    """A microphone playing a 440 Hz tone at 48 kHz, paced by aiortc's sender."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.pts = 0

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await anyio.sleep(0.02 if self.pts else 0)
        t = (self.pts + np.arange(960)) / 48000
        pcm = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
        frame = AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 48000, self.pts
        frame.time_base = fractions.Fraction(1, 48000)
        self.pts += 960
        return frame


@asynccontextmanager
async def serving(
    factory: Callable[[WebSocketTransport], Any] = echo_pipeline,
    webrtc: WebRTCConfig | None = None,
    **options: Any,
) -> AsyncIterator[WebRTCServer]:
    cfg: dict[str, Any] = {"input_sample_rate": 16000, "output_sample_rate": 16000}
    cfg.update(options)
    async with WebRTCServer(factory, ServerConfig(**cfg), webrtc or WebRTCConfig()) as server:
        yield server


class Call:
    """The client side of one call: signalling socket, peer connection, what arrived."""

    def __init__(self, ws: ClientConnection, pc: RTCPeerConnection) -> None:
        self.ws, self.pc = ws, pc
        self.events: list[dict[str, Any]] = []
        self.event_arrived = anyio.Event()
        self.loud_samples = 0
        self.heard = anyio.Event()
        """Set once half a second of loud audio has arrived."""
        self.channel = pc.createDataChannel("events")
        self.channel.on("message", self._on_event)
        self.config: dict[str, Any] = {}

    def _on_event(self, message: str) -> None:
        self.events.append(json.loads(message))
        self.event_arrived.set()
        self.event_arrived = anyio.Event()

    async def wait_for(self, kind: str, timeout: float = 10) -> dict[str, Any]:
        with anyio.fail_after(timeout):
            while True:
                for event in self.events:
                    if event["type"] == kind:
                        return event
                await self.event_arrived.wait()

    async def listen(self, track: MediaStreamTrack) -> None:
        with_sound = 0
        try:
            while True:
                frame = await track.recv()
                with_sound += int((np.abs(frame.to_ndarray()) > 1000).sum())
                self.loud_samples = with_sound
                if with_sound >= 48000 // 2:
                    self.heard.set()
        except MediaStreamError:
            pass


@asynccontextmanager
async def calling(server: WebRTCServer, query: str = "") -> AsyncIterator[Call]:
    async with (
        connect(f"ws://127.0.0.1:{server.port}/webrtc{query}") as ws,
        anyio.create_task_group() as tg,
    ):
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        call = Call(ws, pc)
        pc.on("track", lambda track: tg.start_soon(call.listen, track))
        pc.addTrack(ToneTrack())
        try:
            call.config = json.loads(await ws.recv())
            await pc.setLocalDescription(await pc.createOffer())
            await ws.send(json.dumps({"type": "webrtc.offer", "sdp": pc.localDescription.sdp}))
            answer = json.loads(await ws.recv())
            assert answer["type"] == "webrtc.answer", answer
            await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
            yield call
        finally:
            await pc.close()
            tg.cancel_scope.cancel()


async def test_call_carries_audio_both_ways_and_events_on_the_data_channel() -> None:
    async with serving() as server, calling(server) as call:
        started = await call.wait_for("session.started")
        assert started["audio"]["input"]["sample_rate"] == 16000
        assert started["audio"]["output"]["sample_rate"] == 48000
        assert call.config == {"type": "webrtc.config", "ice_servers": []}
        call.channel.send(json.dumps({"type": "text", "text": "hello"}))
        transcript = await call.wait_for("transcript")
        assert transcript["text"] == "you said hello"
        call.channel.send(b"\x00\x00" * 160)  # audio belongs on the track
        error = await call.wait_for("error")
        assert error["code"] == "invalid_event" and "RTP" in error["message"]
        # The tone went in (48 kHz Opus -> 16 kHz pipeline) and came back out as bot audio.
        with anyio.fail_after(10):
            await call.heard.wait()
        await call.wait_for("bot.started_speaking")
        assert server.active_sessions == 1


async def test_hang_up_ends_the_session_and_releases_the_call() -> None:
    async with serving() as server:
        async with calling(server) as call:
            await call.wait_for("session.started")
        with anyio.fail_after(5):
            await server.wait_idle()
        assert server.sessions_served == 1 and server.sessions_failed == 0


async def test_token_is_required_for_signalling() -> None:
    token = "a-long-enough-token-1234"
    async with serving(token=token) as server:
        with pytest.raises(InvalidStatus) as info:
            async with calling(server):
                pass
        assert info.value.response.status_code == 401
        async with calling(server, f"?access_token={token}") as call:
            await call.wait_for("session.started")


async def test_sessions_are_limited_across_both_kinds() -> None:
    async with serving(max_sessions=1) as server, calling(server) as call:
        await call.wait_for("session.started")
        async with connect(f"ws://127.0.0.1:{server.port}/webrtc") as ws:
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.close_code == CLOSE_TRY_AGAIN
        async with connect(f"ws://127.0.0.1:{server.port}/") as ws:
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.close_code == CLOSE_TRY_AGAIN


async def test_a_silent_client_is_refused_at_the_connect_deadline() -> None:
    async with serving(webrtc=WebRTCConfig(connect_timeout=0.5)) as server:
        async with connect(f"ws://127.0.0.1:{server.port}/webrtc") as ws:
            assert json.loads(await ws.recv())["type"] == "webrtc.config"
            with anyio.fail_after(5):
                error = json.loads(await ws.recv())
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
        assert error["code"] == "webrtc_timeout" and error["fatal"]
        assert ws.close_code == 1011
        with anyio.fail_after(5):
            await server.wait_idle()
        assert server.sessions_rejected == 1 and server.sessions_failed == 0


AUDIO_NO_ICE = (
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n"
)


@pytest.mark.parametrize(
    ("offer", "why"),
    [
        ("not json", "not JSON"),
        (json.dumps({"type": "hello"}), "webrtc.offer"),
        (json.dumps({"type": "webrtc.offer", "sdp": 5}), "'sdp'"),
        (json.dumps({"type": "webrtc.offer", "sdp": "v=0\r\n"}), "no audio track"),
        (json.dumps({"type": "webrtc.offer", "sdp": "v=0\r\nm=audio x"}), "cannot use the offer"),
        (json.dumps({"type": "webrtc.offer", "sdp": "v=0\r\n" + AUDIO_NO_ICE}), "ICE"),
    ],
)
async def test_bad_offers_are_refused_with_a_reason(offer: str, why: str) -> None:
    async with serving() as server:
        async with connect(f"ws://127.0.0.1:{server.port}/webrtc") as ws:
            await ws.recv()
            await ws.send(offer)
            with anyio.fail_after(5):
                error = json.loads(await ws.recv())
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
        assert error["code"] == "invalid_offer" and why in error["message"]
        assert ws.close_code == 1008
        assert server.sessions_failed == 0


async def test_webrtc_only_server_refuses_plain_websocket_sessions() -> None:
    async with serving(webrtc=WebRTCConfig(websocket=False)) as server:
        async with connect(f"ws://127.0.0.1:{server.port}/") as ws:
            with pytest.raises(ConnectionClosed):
                await ws.recv()
        assert ws.close_code == 1008 and "/webrtc" in (ws.close_reason or "")


async def test_ice_servers_reach_the_client_and_the_credential_stays_secret() -> None:
    turn = IceServer("turn:turn.example.com:3478", username="u", credential="turn-secret-xyz")
    stun = IceServer(["stun:stun.example.com:3478"])
    assert "turn-secret-xyz" not in repr(turn)
    assert "turn-secret-xyz" not in redact("credential turn-secret-xyz")
    with pytest.raises(ValueError, match="STUN or TURN"):
        IceServer("http://example.com")
    async with (
        serving(webrtc=WebRTCConfig(ice_servers=[turn, stun])) as server,
        connect(f"ws://127.0.0.1:{server.port}/webrtc") as ws,
    ):
        config = json.loads(await ws.recv())
    assert config["ice_servers"] == [
        {"urls": ["turn:turn.example.com:3478"], "username": "u", "credential": "turn-secret-xyz"},
        {"urls": ["stun:stun.example.com:3478"]},
    ]


class Speaker(FrameProcessor):
    """Any typed text makes the bot say 3 s of tone (at the pipeline's 48 kHz)."""

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, TextFrame):
            t = np.arange(3 * 48000) / 48000
            tone = (8000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16).tobytes()
            await self.push_frame(OutputAudioFrame(tone, 48000, 1), direction)
            return
        await self.push_frame(frame, direction)


async def test_an_interruption_stops_the_bot_audio_at_once() -> None:
    def build(transport: WebSocketTransport) -> list[Any]:
        return [transport.input(), Speaker(), transport.output()]

    # Unpaced output: the output half fills the track's queue (1 s), which the interruption
    # must empty, not only the output half's buffer.
    async with serving(build, realtime=False) as server, calling(server) as call:
        await call.wait_for("session.started")
        call.channel.send(json.dumps({"type": "text", "text": "talk"}))
        with anyio.fail_after(10):
            await call.heard.wait()  # half a second of the reply has arrived
        call.channel.send(json.dumps({"type": "interrupt"}))
        await call.wait_for("interrupted")
        at_interrupt = call.loud_samples
        stopped = await call.wait_for("bot.stopped_speaking")
        with anyio.move_on_after(0.5):
            await anyio.sleep_forever()  # let whatever was in flight arrive
        # In flight at most: aiortc's receive buffer on the client (4 packets, 80 ms), the
        # packets on the way and the decoder's queue; the 2.5 s left were dropped.
        after = (call.loud_samples - at_interrupt) / 48000
        assert after < 0.3, f"{after:.3f} s of audio arrived after the interruption"
        assert stopped["interrupted"] and stopped["played_ms"] < 1500
