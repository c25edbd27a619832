"""The WebRTC audio tracks: resampling into and out of the pipeline, pacing, and the queue
an interruption empties."""

from __future__ import annotations

import anyio
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("aiortc", reason="the webrtc extra is not installed")

import fractions

from av import AudioFrame

from beluga_voice.transports.webrtc import BotAudioTrack, InboundAudio

pytestmark = pytest.mark.anyio


def opus_frame(samples: np.ndarray, channels: int = 2, rate: int = 48000) -> AudioFrame:
    """A decoded frame as aiortc delivers it: packed s16, the voice on every channel."""
    packed = np.repeat(samples.astype(np.int16), channels).reshape(1, -1)
    frame = AudioFrame.from_ndarray(
        packed, format="s16", layout="stereo" if channels == 2 else "mono"
    )
    frame.sample_rate = rate
    frame.time_base = fractions.Fraction(1, rate)
    return frame


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 2000), min_size=1, max_size=30))
def test_inbound_audio_is_resampled_without_drift_over_any_framing(sizes: list[int]) -> None:
    inbound = InboundAudio(16000)
    total_in = total_out = 0
    for n in sizes:
        out = inbound.convert(opus_frame(np.zeros(n)))
        assert len(out) % 2 == 0
        total_in, total_out = total_in + n, total_out + len(out) // 2
        # Never more than a third of what went in; behind it by soxr's block delay at most
        # (measured up to ~600 samples at 16 kHz, whatever the stream's length: no drift).
        assert total_in // 3 - 1300 <= total_out <= total_in // 3 + 1


def test_inbound_tone_keeps_its_pitch_and_level_and_stereo_becomes_mono() -> None:
    inbound = InboundAudio(16000)
    t = np.arange(48000) / 48000
    tone = 10000 * np.sin(2 * np.pi * 440 * t)
    out = b"".join(inbound.convert(opus_frame(tone[i : i + 960])) for i in range(0, 48000, 960))
    y = np.frombuffer(out, np.int16).astype(float)[400:]
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    peak_hz = np.argmax(spectrum) * 16000 / len(y)
    assert abs(peak_hz - 440) < 3
    assert 9000 < np.abs(y).max() < 10500


def test_a_codec_rate_change_mid_call_loses_nothing() -> None:
    inbound = InboundAudio(16000)
    out = inbound.convert(opus_frame(np.ones(4800) * 1000))
    out += inbound.convert(opus_frame(np.ones(2400) * 1000, rate=24000))
    # 100 ms at 48 kHz plus 100 ms at 24 kHz: 200 ms at 16 kHz, less the filter delay.
    assert 3200 - 200 <= len(out) // 2 <= 3200


async def test_bot_track_serves_20_ms_frames_of_what_was_written_then_silence() -> None:
    track = BotAudioTrack(24000)
    pcm = (8000 * np.ones(2400)).astype(np.int16).tobytes()  # 100 ms at 24 kHz
    await track.write(pcm, 24000)
    track.end_of_reply()  # the resampler's tail too
    loud = 0
    pts = []
    for _ in range(10):
        frame = await track.recv()
        assert frame.sample_rate == 48000 and frame.samples == 960
        pts.append(frame.pts)
        loud += int((np.abs(frame.to_ndarray()) > 4000).sum())
    assert pts == [960 * i for i in range(10)]
    assert 4700 < loud <= 4800  # 100 ms at 48 kHz (the edges ring below the threshold)
    assert track.queued_s == 0
    track.stop()


async def test_clear_drops_everything_queued_at_once() -> None:
    track = BotAudioTrack(24000)
    await track.write((8000 * np.ones(24000)).astype(np.int16).tobytes(), 24000)
    assert track.queued_s > 0.9
    track.clear()
    assert track.queued_s == 0
    frame = await track.recv()
    assert not np.abs(frame.to_ndarray()).any()
    track.stop()


async def test_a_full_queue_holds_the_writer_back_until_played() -> None:
    track = BotAudioTrack(24000, max_queue_s=0.1)
    chunk = (8000 * np.ones(480)).astype(np.int16).tobytes()  # 20 ms
    with anyio.move_on_after(0.2) as scope:
        for _ in range(20):  # 400 ms: writes stop going through at about 100 ms
            await track.write(chunk, 24000)
    assert scope.cancelled_caught, "a write should wait for room"
    assert 0.1 <= track.queued_s <= 0.1 + 0.02
    written = anyio.Event()

    async def writer() -> None:
        await track.write(chunk, 24000)
        written.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(writer)
        with anyio.fail_after(2):
            while not written.is_set():  # playback makes room: the waiting write goes on
                await track.recv()
    assert track.queued_s <= 0.1 + 0.02
    track.stop()
