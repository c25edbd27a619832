"""Audio between aiortc's media tracks and the pipeline's PCM16 frames.

aiortc decodes the browser's Opus to ``av.AudioFrame`` s at 48 kHz (stereo, the voice on
both channels) and encodes whatever a sending track returns from ``recv()``.  Here:

* :class:`InboundAudio` turns received frames into mono PCM16 at the pipeline's input
  rate through the project's :class:`~beluga_voice.audio.resample.StreamResampler`
  (soxr, filter state kept across frames, so no boundary clicks and no drift).
* :class:`BotAudioTrack` is the track the server sends: bot audio handed to it by the
  output half (already paced to real time there), at 48 kHz (the server starts WebRTC
  pipelines at that output rate, so the provider's processor resamples with the whole
  reply in view; another rate is resampled here), served to aiortc
  in 20 ms frames at real-time pace, with silence when there is nothing to say (the
  browser's jitter buffer wants a steady stream).  :meth:`BotAudioTrack.clear` drops
  everything queued at once (barge-in).
"""

from __future__ import annotations

import fractions
import time
from collections import deque
from typing import Final

import anyio
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from ...audio.resample import StreamResampler

__all__ = ["OPUS_RATE", "BotAudioTrack", "InboundAudio", "MediaStreamError"]

OPUS_RATE: Final = 48000
"""The rate aiortc's Opus codec works at (and so the rate we hand it)."""
PTIME: Final = 0.020
_SAMPLES: Final = int(OPUS_RATE * PTIME)


class InboundAudio:
    """Received ``av.AudioFrame`` s to mono PCM16 at ``rate`` (one per inbound track)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._resampler = StreamResampler(OPUS_RATE, rate)

    def convert(self, frame: AudioFrame) -> bytes:
        channels = len(frame.layout.channels)
        if frame.format.name != "s16":  # aiortc's decoders give packed s16; others we convert
            frame = _to_s16(frame)
        samples = frame.to_ndarray().reshape(-1, channels)
        mono = samples[:, 0] if channels == 1 else samples.mean(axis=1).astype(np.int16)
        if frame.sample_rate != self._resampler.in_rate:
            # A codec switch mid-call: drain the old filter first, nothing lost or repeated.
            tail = self._resampler.set_input_rate(frame.sample_rate)
            return tail + self._resampler.process(mono.tobytes())
        return self._resampler.process(mono.tobytes())


def _to_s16(frame: AudioFrame) -> AudioFrame:
    from av.audio.resampler import AudioResampler

    (out,) = AudioResampler(
        format="s16", layout=frame.layout.name, rate=frame.sample_rate
    ).resample(frame)
    return out


class BotAudioTrack(MediaStreamTrack):
    """The server's outgoing audio track (see the module docstring).

    ``max_queue_s`` bounds the audio waiting here; :meth:`write` waits for room beyond it
    (backpressure on the output half, which only runs ``lead`` ahead of playback anyway).
    """

    kind = "audio"

    def __init__(self, in_rate: int, *, max_queue_s: float = 1.0) -> None:
        super().__init__()
        self._resampler = StreamResampler(in_rate, OPUS_RATE)
        self._queue: deque[np.ndarray] = deque()
        self._queued = 0
        self._max_queued = int(max_queue_s * OPUS_RATE)
        self._room = anyio.Event()
        self._start: float | None = None
        self._pts = 0
        self.samples_sent = 0
        """Samples of bot audio (not silence) handed to the encoder so far."""

    @property
    def queued_s(self) -> float:
        return self._queued / OPUS_RATE

    async def write(self, pcm: bytes, rate: int) -> None:
        """Queue PCM16 mono bot audio at ``rate`` (waits while ``max_queue_s`` is full)."""
        if rate != self._resampler.in_rate:
            self._push(self._resampler.set_input_rate(rate))
        while self._queued >= self._max_queued and self.readyState == "live":
            self._room = anyio.Event()
            await self._room.wait()
        self._push(self._resampler.process(pcm))

    def end_of_reply(self) -> None:
        """Queue the resampler's held-back tail (soxr keeps up to ~40 ms), which would
        otherwise wait for the next reply.  A no-op when the pipeline plays at 48 kHz."""
        self._push(self._resampler.flush())

    def _push(self, pcm: bytes) -> None:
        if pcm:
            block = np.frombuffer(pcm, np.int16)
            self._queue.append(block)
            self._queued += block.size

    def clear(self) -> None:
        """Drop every queued sample now (an interruption: the bot must stop at once)."""
        self._queue.clear()
        self._queued = 0
        self._resampler.reset()
        self._room.set()

    def stop(self) -> None:
        super().stop()
        self.clear()

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            wait = self._start + self._pts / OPUS_RATE - now
            if wait > 0:
                await anyio.sleep(wait)
            elif wait < -0.5:  # the loop stalled: start the clock again rather than rush
                self._start = now - self._pts / OPUS_RATE
        out = np.zeros(_SAMPLES, np.int16)
        filled = 0
        while filled < _SAMPLES and self._queue:
            block = self._queue[0]
            take = min(block.size, _SAMPLES - filled)
            out[filled : filled + take] = block[:take]
            filled += take
            if take == block.size:
                self._queue.popleft()
            else:
                self._queue[0] = block[take:]
        self._queued -= filled
        self.samples_sent += filled
        if filled:
            self._room.set()
        frame = AudioFrame.from_ndarray(out.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = OPUS_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, OPUS_RATE)
        self._pts += _SAMPLES
        return frame
