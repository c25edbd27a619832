"""Both audio directions of an S2S session, as one object the processor holds.

Towards the provider: G.711 from a carrier is passed through as it came when the session
takes it (``native``), otherwise decoded; then down-mixed to mono and resampled to a rate
the provider takes.  From the provider: the same in reverse, to the transports' rate and
encoding.  The resamplers keep filter state between chunks and hold a few milliseconds
back, so the processor asks for the tails at the right moments: the input's when the
input ends, a reply's when it ends (or drops it on a barge-in).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..audio.g711 import G711_SILENCE, g711_decode, g711_encode
from ..audio.pcm import convert_channels
from ..audio.resample import StreamResampler
from ..frames import AudioEncoding, InputAudioFrame
from ..providers.events import AudioChunk

__all__ = ["AudioPath"]


class _Converter:
    """Mono down-mix plus a stateful resampler: one audio direction of the session."""

    def __init__(self, in_rate: int, out_rate: int, channels: int = 1) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.channels = channels
        self._resampler = StreamResampler(in_rate, out_rate)

    def __call__(self, pcm: bytes) -> bytes:
        if self.channels > 1:
            pcm = convert_channels(pcm, self.channels, 1)
        return self._resampler.process(pcm)

    def flush(self) -> bytes:
        """The few ms the filter holds back, at the end of a stretch of audio."""
        return self._resampler.flush()

    def reset(self) -> None:
        """Drop what the filter holds (the audio it belongs to was cut)."""
        self._resampler.reset()


class AudioPath:
    """Converts user audio for the provider and reply audio for the transports."""

    def __init__(self, input_rates: Callable[[], Sequence[int]]) -> None:
        self._input_rates = input_rates
        """The rates the provider takes, asked each time (a fallback may switch providers)."""
        self.output_rate = 24000
        self.encoding: AudioEncoding = "pcm16"
        """The transports' audio encoding (the StartFrame's): G.711 on a telephone line."""
        self.native = False
        """The session takes and gives that G.711 as it is (no conversion here)."""
        self._in: _Converter | None = None
        self._out: _Converter | None = None

    # -- towards the provider ----------------------------------------------------------

    def to_provider(self, frame: InputAudioFrame) -> bytes:
        if frame.encoding != "pcm16":
            rates = self._input_rates()
            if self.native and frame.encoding == self.encoding and frame.sample_rate in rates:
                return frame.audio  # the carrier's bytes, as they came
            frame = InputAudioFrame(
                g711_decode(frame.audio, frame.encoding), frame.sample_rate, frame.channels
            )
        conv = self._in
        if conv is None or conv.in_rate != frame.sample_rate or conv.channels != frame.channels:
            rates = self._input_rates()
            target = frame.sample_rate if frame.sample_rate in rates else rates[0]
            conv = self._in = _Converter(frame.sample_rate, target, frame.channels)
        return conv(frame.audio)

    def input_tail(self) -> bytes:
        """What the input resampler still holds back (once: it is then empty)."""
        return self._in.flush() if self._in is not None else b""

    @property
    def sent_rate(self) -> int:
        """The rate the provider is sent audio at."""
        return self._in.out_rate if self._in is not None else self._input_rates()[0]

    @property
    def sent_encoding(self) -> AudioEncoding:
        return self.encoding if self.native else "pcm16"

    def silence(self, seconds: float) -> bytes:
        """Silence as the provider is sent audio."""
        if self.native:
            return G711_SILENCE[self.encoding] * round(self._input_rates()[0] * seconds)
        return bytes(2 * round(self.sent_rate * seconds))

    def silence_like(self, audio: bytes) -> bytes:
        """As long as ``audio`` (muted user audio), in the encoding it was sent in."""
        return (G711_SILENCE[self.encoding] if self.native else b"\0") * len(audio)

    def ms(self, pcm_bytes: int) -> float:
        """Milliseconds of PCM16 mono at the rate the provider was sent."""
        return 1000.0 * pcm_bytes / (2 * self.sent_rate)

    # -- from the provider ---------------------------------------------------------------

    def from_provider(self, chunk: AudioChunk) -> bytes:
        """Reply audio as the transports take it (may be empty: the filter holds it)."""
        audio = chunk.audio
        if chunk.encoding != "pcm16":
            if (chunk.encoding, chunk.sample_rate, chunk.channels) == (
                self.encoding,
                self.output_rate,
                1,
            ):
                return audio  # the provider's G.711, as it came, to the carrier
            audio = g711_decode(audio, chunk.encoding)
        conv = self._out
        if conv is None or conv.in_rate != chunk.sample_rate or conv.channels != chunk.channels:
            conv = self._out = _Converter(chunk.sample_rate, self.output_rate, chunk.channels)
        return self._encode(conv(audio))

    def reply_tail(self) -> bytes:
        """The reply's last few ms, which the output filter held back."""
        return self._encode(self._out.flush()) if self._out is not None else b""

    def drop_reply_tail(self) -> None:
        """The reply was cut: its held-back tail must not open the next one."""
        if self._out is not None:
            self._out.reset()

    def _encode(self, pcm: bytes) -> bytes:
        if not pcm or self.encoding == "pcm16":
            return pcm
        return g711_encode(pcm, self.encoding)
