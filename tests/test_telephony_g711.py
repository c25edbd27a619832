"""G.711 end to end: a Twilio call's mu-law reaches OpenAI Realtime's wire untouched, and back.

The carrier speaks mu-law at 8 kHz and the provider is set up with ``audio/pcmu``: with
``TwilioSerializer(passthrough=True)`` nothing between them decodes, resamples or
encodes.  The test makes every such step on the path fail if called, and sends bytes a
decode/encode round trip would change (mu-law's negative zero, 0x7F, becomes 0xFF).
"""

from __future__ import annotations

import base64
from typing import Any

import anyio
import pytest
from _realtime_helpers import provider_for

import beluga_voice.processors.s2s_audio as s2s_module
import beluga_voice.providers.openai_realtime.core as realtime_core
import beluga_voice.transports.telephony.base as telephony_base
from beluga_voice.audio import ulaw_decode, ulaw_encode
from beluga_voice.frames import Direction, Frame, InputAudioFrame, OutputAudioFrame, StartFrame
from beluga_voice.pipeline import FrameProcessor
from beluga_voice.processors.s2s import S2SProcessor
from beluga_voice.testing.carriers import SimulatedCall
from beluga_voice.testing.fake_realtime import FakeRealtimeServer, Reply
from beluga_voice.testing.speech import tone
from beluga_voice.transports.telephony import TwilioSerializer
from beluga_voice.transports.websocket import ServerConfig, WebSocketServer, WebSocketTransport

pytestmark = pytest.mark.anyio


def forbidden(*args: Any, **kwargs: Any) -> bytes:
    raise AssertionError("the call's audio was converted on its way")


class Seen(FrameProcessor):
    def __init__(self, frames: list[Frame]) -> None:
        super().__init__()
        self.frames = frames

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if direction is Direction.DOWNSTREAM:
            self.frames.append(frame)
        await self.push_frame(frame, direction)


async def test_mu_law_reaches_the_provider_wire_unchanged_and_comes_back_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for module, name in [(s2s_module, "g711_decode"), (s2s_module, "g711_encode")]:
        monkeypatch.setattr(module, name, forbidden)
    monkeypatch.setattr(s2s_module, "_Converter", forbidden)  # the resampler
    monkeypatch.setattr(telephony_base, "_CODECS", {"pcmu": (forbidden, forbidden)})
    monkeypatch.setattr(realtime_core, "_ENCODERS", {"audio/pcmu": forbidden})
    monkeypatch.setattr(realtime_core, "_DECODERS", {"audio/pcmu": forbidden})

    # A turn: 0.5 s of loud tone, then 0.7 s of silence spelt with both mu-law zeros.
    caller = ulaw_encode(tone(0.5, 8000, 300.0, 0.5)) + b"\xff\x7f" * 2800
    reply = Reply(tone(0.4, 8000, 500.0), "Telephone voice")
    frames: list[Frame] = []
    starts: list[StartFrame] = []

    async with FakeRealtimeServer("openai", script=[reply]) as fake:
        provider = provider_for(fake, audio_format="audio/pcmu")

        def build(t: WebSocketTransport) -> list[Any]:
            return [t.input(), Seen(frames), S2SProcessor(provider), Seen(frames), t.output()]

        def serializer() -> TwilioSerializer:
            return TwilioSerializer(passthrough=True)

        config = ServerConfig(port=0)
        with anyio.fail_after(20):
            async with (
                WebSocketServer(build, config, serializer_factory=serializer) as server,
                SimulatedCall(server.url, "twilio", playout_delay=0.0) as call,
            ):
                await call.say(caller)
                await call.wait_until(played_seconds=0.4)  # the whole reply was heard
        starts = [f for f in frames if isinstance(f, StartFrame)]

    appended = b"".join(
        base64.b64decode(e["audio"])
        for e in fake.records.events
        if e["type"] == "input_audio_buffer.append"
    )
    assert appended[: len(caller)] == caller  # byte for byte, negative zeros included
    assert bytes(call.received) == ulaw_encode(reply.audio)  # what the model sent, as sent
    assert call.errors == [] and fake.records.violations == []
    assert starts[0].audio_encoding == "pcmu"
    caller_frames = [f for f in frames if isinstance(f, InputAudioFrame)]
    assert caller_frames and all(f.encoding == "pcmu" for f in caller_frames)
    bot_frames = [f for f in frames if isinstance(f, OutputAudioFrame)]
    assert bot_frames and all((f.encoding, f.sample_rate) == ("pcmu", 8000) for f in bot_frames)


async def test_without_a_native_provider_the_processor_converts() -> None:
    """Pass-through frames reaching a provider that takes PCM16 only are decoded there."""
    from beluga_voice.providers.mock import AdvancedMockS2SProvider

    provider = AdvancedMockS2SProvider()
    assert 8000 not in provider.capabilities.input_sample_rates  # so it resamples too
    mu_law = ulaw_encode(tone(1.0, 8000, 300.0))
    g711, pcm = S2SProcessor(provider).audio, S2SProcessor(provider).audio
    g711.encoding = "pcmu"  # as on_start sets it from the StartFrame
    converted = g711.to_provider(InputAudioFrame(mu_law, 8000, encoding="pcmu"))
    assert converted and converted == pcm.to_provider(InputAudioFrame(ulaw_decode(mu_law), 8000))


async def test_barge_in_truncates_the_models_reply_at_the_carriers_last_mark() -> None:
    """The phone plays 200 ms behind what it received; the model is told what was heard."""
    turn = ulaw_encode(tone(0.5, 8000, 300.0, 0.5)) + b"\xff" * 5600
    reply = Reply(tone(3.0, 8000, 500.0), "A long answer the caller cuts short")
    async with FakeRealtimeServer("openai", script=[reply]) as fake:
        provider = provider_for(fake, audio_format="audio/pcmu")

        def build(t: WebSocketTransport) -> list[Any]:
            return [t.input(), S2SProcessor(provider), t.output()]

        def serializer() -> TwilioSerializer:
            return TwilioSerializer(passthrough=True)

        with anyio.fail_after(20):
            async with (
                WebSocketServer(
                    build, ServerConfig(port=0), serializer_factory=serializer
                ) as server,
                SimulatedCall(server.url, "twilio", playout_delay=0.2) as call,
            ):
                await call.say(turn)
                await call.wait_until(played_seconds=0.6)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(call.say, ulaw_encode(tone(1.0, 8000, 300.0, 0.5)))
                    await call.wait_until(clears=1)
                    tg.cancel_scope.cancel()
                await fake.wait_until(lambda records: bool(records.truncations))
    assert call.echoed_before_clear
    marks_ms = [int(name.split(":")[1]) // 8 for name in call.echoed_before_clear]
    (cut,) = fake.records.truncations
    assert cut[2] in marks_ms  # exactly a position the carrier reported as played
    assert marks_ms[-1] - 60 <= cut[2] <= marks_ms[-1]
    assert cut[2] < len(call.received) / 8 - 150  # not what was sent: the phone lags 200 ms
    assert fake.records.violations == []


async def test_a_wrapped_provider_declines_pass_through_and_the_call_is_converted() -> None:
    from beluga_voice.providers import new_provider
    from beluga_voice.providers.config import S2SConfig, with_provider_specific

    async with FakeRealtimeServer("openai") as fake:
        opts = with_provider_specific(base_url=fake.url, audio_format="audio/pcmu")
        wrapped = new_provider("openai_realtime", S2SConfig(api_key="sk-test-0123456789"), opts)
        async with wrapped.stream() as session:
            assert session.pass_through("pcmu") is False  # its journal counts PCM16
        async with provider_for(fake, audio_format="audio/pcmu").stream() as session:
            assert session.pass_through("pcma") is False  # not the wire's law
            assert session.pass_through("pcmu") is True
