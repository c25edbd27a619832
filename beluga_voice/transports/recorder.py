"""Two-channel conversation recording: user on the left, bot on the right, one timeline.

A recording is only useful for reviewing a conversation if both voices sit where they
happened: the bot's reply starts where the user's turn ended, overlaps show barge-ins, and
silence fills the gaps.  The recorder taps the pipeline in two places::

    rec = ConversationRecorder("call.wav")
    Pipeline([transport.input(), rec.user_tap(), s2s, output, rec.bot_tap()])

* the **user tap** (right after the input half) appends every ``InputAudioFrame``: user
  audio is a continuous stream (silence included), so its length *is* the timeline;
* the **bot tap** records ``OutputAudioFrame``.  After the output half with
  ``forward_audio=True`` it records what was actually played (an interruption cuts it where
  the listener stopped hearing it).  Each bot response (``BotStartedSpeakingFrame``) is
  placed at the user timeline's current position; within a response audio is contiguous,
  so network jitter cannot chop a reply with gaps.

Both tracks are resampled to one rate and written as 16-bit stereo WAV when the pipeline
stops (or on :meth:`ConversationRecorder.close`).  The tracks live in memory until then:
64 kB per second at 16 kHz, about 230 MB for an hour.
"""

from __future__ import annotations

import os
from typing import BinaryIO

import numpy as np

from ..audio import convert_channels, write_wav_pcm16
from ..audio.resample import StreamResampler
from ..frames import (
    AudioFrame,
    BotStartedSpeakingFrame,
    Direction,
    Frame,
    InputAudioFrame,
    OutputAudioFrame,
)
from ..pipeline import FrameProcessor

__all__ = ["ConversationRecorder"]


class _Track:
    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.pcm = bytearray()
        self._resampler: StreamResampler | None = None

    def convert(self, frame: AudioFrame) -> bytes:
        pcm = frame.audio
        if frame.channels != 1:
            pcm = convert_channels(pcm, frame.channels, 1)
        if self._resampler is None:
            self._resampler = StreamResampler(frame.sample_rate, self.rate)
        elif self._resampler.in_rate != frame.sample_rate:
            return self._resampler.set_input_rate(frame.sample_rate) + self._resampler.process(pcm)
        return self._resampler.process(pcm)

    def place(self, pcm: bytes, at: int) -> None:
        """Write ``pcm`` starting at byte ``at``, padding with silence up to it."""
        end = at + len(pcm)
        if len(self.pcm) < at:
            self.pcm += bytes(at - len(self.pcm))
        self.pcm[at:end] = pcm


class _Tap(FrameProcessor):
    def __init__(self, recorder: ConversationRecorder, user: bool) -> None:
        super().__init__(name="record-user" if user else "record-bot")
        self.recorder = recorder
        self.user = user

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        rec = self.recorder
        if self.user:
            if direction is Direction.DOWNSTREAM and isinstance(frame, InputAudioFrame):
                rec._user.pcm += rec._user.convert(frame)
        elif isinstance(frame, BotStartedSpeakingFrame):
            rec._bot_cursor = max(rec._bot_cursor, len(rec._user.pcm))
        elif direction is Direction.DOWNSTREAM and isinstance(frame, OutputAudioFrame):
            pcm = rec._bot.convert(frame)
            rec._bot.place(pcm, rec._bot_cursor)
            rec._bot_cursor += len(pcm)
        await self.push_frame(frame, direction)

    async def on_stop(self) -> None:
        self.recorder._tap_stopped()


class ConversationRecorder:
    """Records user and bot audio to one stereo WAV (see the module docstring)."""

    def __init__(
        self, dest: str | os.PathLike[str] | BinaryIO | None, *, sample_rate: int = 16000
    ) -> None:
        self.dest = dest
        self.sample_rate = sample_rate
        self._user = _Track(sample_rate)
        self._bot = _Track(sample_rate)
        self._bot_cursor = 0
        self._taps = [_Tap(self, True), _Tap(self, False)]
        self._stopped = 0
        self.wav: bytes | None = None
        """The file's bytes once written."""

    def user_tap(self) -> FrameProcessor:
        return self._taps[0]

    def bot_tap(self) -> FrameProcessor:
        return self._taps[1]

    def stereo(self) -> bytes:
        """The interleaved PCM16 stereo recording so far (left user, right bot)."""
        n = max(len(self._user.pcm), len(self._bot.pcm)) // 2
        out = np.zeros((n, 2), dtype="<i2")
        user = np.frombuffer(bytes(self._user.pcm), dtype="<i2")
        bot = np.frombuffer(bytes(self._bot.pcm), dtype="<i2")
        out[: user.size, 0] = user
        out[: bot.size, 1] = bot
        return out.tobytes()

    def _tap_stopped(self) -> None:
        self._stopped += 1
        if self._stopped == len(self._taps):
            self.close()

    def close(self) -> bytes:
        """Write the file (once); returns its bytes."""
        if self.wav is None:
            self.wav = write_wav_pcm16(self.dest, self.stereo(), self.sample_rate, 2)
        return self.wav
