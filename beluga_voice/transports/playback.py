"""The play task of an output transport: paced release of bot audio and the speaking state.

:class:`Playback` is the base of :class:`~.output.OutputTransport`: it owns the task that
takes chunks from the playback buffer at real-time pace (see :mod:`.pacing`), releases a
live stream's chunks inline when their turn has come, and tells the pipeline when the bot
starts and stops speaking.  The processor side (frames in, the buffer's bound, barge-in)
is :class:`~.output.OutputTransport`'s.  They share one object, so the hot path of a live
stream, ``process_frame`` -> ``_release_inline`` -> ``write_audio``, makes no extra call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import anyio

from ..frames import (
    AudioEncoding,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Direction,
    Frame,
    OutputAudioFrame,
)
from ..pipeline import FrameProcessor
from .pacing import AnyioClock, Doorbell, Pacer, PlaybackBuffer

__all__ = ["OutputStats", "Playback"]

_DOWN: Final = Direction.DOWNSTREAM
_UP: Final = Direction.UPSTREAM


@dataclass(slots=True)
class OutputStats:
    """Counters of the output half, in plain numbers (cheap to keep, read by metrics)."""

    chunks_written: int = 0
    seconds_written: float = 0.0
    responses: int = 0
    interruptions: int = 0
    seconds_dropped: float = 0.0
    last_played_ms: float = 0.0
    late_max_ms: float = 0.0
    buffered_max_s: float = 0.0
    """The most bot audio ever held waiting to play (``max_buffer_s`` bounds it)."""
    history: list[tuple[float, bool]] = field(default_factory=list)
    """``(played_ms, interrupted)`` of each finished response (bounded to the last 100)."""


class Playback(FrameProcessor):
    """The play task and speaking state of :class:`~.output.OutputTransport` (its base).

    The attributes below are set by ``OutputTransport.__init__`` and ``on_start``.
    """

    chunk_ms: float
    realtime: bool
    stop_grace: float
    channels: int
    forward_audio: bool
    sample_rate: int
    encoding: AudioEncoding
    pacer: Pacer
    stats: OutputStats
    _width: int
    _buffer: PlaybackBuffer | None
    _wake: Doorbell
    _room: anyio.Event | None
    _idle: anyio.Event
    _speaking: bool
    _playing: bool
    _response_ended: bool
    _generation: int
    _parked: bool

    # -- subclass API --------------------------------------------------------------------

    async def write_audio(self, chunk: bytes) -> None:
        """Hand one chunk of PCM16 (``self.sample_rate``, ``self.channels``; G.711 when
        ``self.encoding`` says so) to the device."""
        raise NotImplementedError

    async def write_frame(self, frame: Frame) -> None:
        """Deliver a non-audio frame to the peer, if it cares.  Default: nothing.

        Called for every downstream frame that passes, and for the speaking frames this
        half makes itself, so a remote client learns when the bot starts and stops.
        """

    @property
    def _bytes_per_second(self) -> int:
        return self._width * self.channels * self.sample_rate

    def _played_seconds(self) -> float:
        if self.realtime:
            return self.pacer.played()
        return self.pacer.released_seconds

    async def _start_speaking(self) -> None:
        self._speaking = True
        self._response_ended = False
        self.stats.responses += 1
        self.pacer.begin()  # a new response: nothing of it played yet, should anyone ask
        frame = BotStartedSpeakingFrame()
        await self.write_frame(frame)
        await self.push_frame(frame, _UP)
        await self.push_frame(frame, _DOWN)
        # The first chunk plays from when it goes out, after the pipeline was told: the
        # pushes may have run other processors' handlers (or waited) for a while.
        self.pacer.begin()

    async def _stop_speaking(self, *, interrupted: bool) -> None:
        self._speaking = False
        played_ms = self._played_seconds() * 1000.0
        self.stats.last_played_ms = played_ms
        self.stats.history.append((played_ms, interrupted))
        del self.stats.history[:-100]
        self.stats.late_max_ms = max(self.stats.late_max_ms, self.pacer.late_max * 1000.0)
        self._idle.set()
        frame = BotStoppedSpeakingFrame(played_ms=played_ms, interrupted=interrupted)
        await self.write_frame(frame)
        await self.push_frame(frame, _UP)
        await self.push_frame(frame, _DOWN)

    async def _wait_wake(self, timeout: float | None) -> bool:
        """Wait for new audio (or an interruption); False when ``timeout`` passed first."""
        return await self._wake.wait(timeout)

    async def _wait_wake_until(self, deadline: float) -> bool:
        """Like :meth:`_wait_wake`, with a deadline on the pacing clock."""
        if self._wake.answer():
            return True
        return await self.pacer.clock.wait_bell(self._wake, deadline)

    async def _release_inline(self, audio: bytes) -> bool:
        """Release one chunk of a live stream from this task, if the play task would at once.

        In a live stream each chunk arrives about when the previous one has drained, finds
        the play task parked in :meth:`_wait_dry` and would only wake it to be released
        at once: a future, a timer and a task step per chunk.  When the chunk is the whole
        of what is waiting, within one chunk in size, and its turn has come, it is released
        here instead, with the same accounting; the parked task's deadline follows the
        schedule (see :meth:`_wait_dry`).  False: nothing done, take the buffer path.
        """
        buffer = self._buffer
        if (
            buffer is None
            or buffer
            or not self._speaking
            or self.forward_audio
            or len(audio) > buffer.chunk_bytes
            or len(audio) % buffer.frame_bytes
        ):
            return False
        pacer = self.pacer
        pacer.resync()  # a no-op unless the audio came after the drain (an underrun)
        if not pacer.take_turn():
            return False
        self._response_ended = False
        chunk = audio if type(audio) is bytes else bytes(audio)
        seconds = len(chunk) / self._bytes_per_second
        pacer.released(seconds)
        self.stats.chunks_written += 1
        self.stats.seconds_written += seconds
        try:
            await self.write_audio(chunk)
        except BaseException:
            # As when the play task's write fails: nothing will be played any more.
            self._playing = False
            self._wake.ring()
            raise
        return True

    async def _wait_dry(self, generation: int) -> None:
        """The dry-while-speaking wait of :meth:`_play` when pacing runs on the loop's clock.

        Audio that rings before ``drained_at`` is on schedule, after it an underrun, and
        no ring until ``stop_grace`` after it means the bot stopped.  With the two phases
        on the same clock they are one wait: the echo of a live stream arrives around
        ``drained_at``, so two waits would cost a timer that fires (a full loop turn and a
        task step) for about every other chunk.  An injected clock (a virtual one in tests)
        keeps the two-phase wait of :meth:`_play`, whose grace runs on the event loop.
        """
        pacer = self.pacer
        clock = pacer.clock
        self._parked = True
        try:
            while True:
                grace = 0.0 if self._response_ended else self.stop_grace
                timeout = pacer.drained_at + grace - clock.now()
                if await self._wake.wait(timeout):
                    pacer.resync()  # a no-op unless the audio came after the drain
                    return
                # Chunks released inline meanwhile moved the drain: keep waiting.
                if timeout <= 0 or pacer.drained_at + grace <= clock.now():
                    break
        finally:
            self._parked = False
        if generation == self._generation and self._speaking and not self._buffer:
            await self._stop_speaking(interrupted=False)

    async def _play_loop(self) -> None:
        try:
            await self._play()
        finally:
            # If writing failed, nothing will be played any more: do not let a graceful
            # end wait for it.  (The engine reports the exception as an error frame.)
            self._playing = False
            self._speaking = False
            if self._buffer is not None:
                self.stats.seconds_dropped += self._buffer.clear() / self._bytes_per_second
            self._idle.set()

    async def _play(self) -> None:
        buffer = self._buffer
        assert buffer is not None
        pacer = self.pacer
        loop_clock = type(pacer.clock) is AnyioClock
        while True:
            generation = self._generation
            if not buffer:
                if not self._speaking:
                    self._idle.set()
                    await self._wait_wake(None)
                    continue
                # Dry while speaking.  Audio that comes before what was released has
                # finished playing is still on schedule; after that it is an underrun (the
                # gap was silence) and after a grace period more the bot has stopped.
                if self.realtime and loop_clock:
                    await self._wait_dry(generation)
                    if not self._playing:
                        return  # an inline write failed
                    continue
                if self.realtime and await self._wait_wake_until(pacer.drained_at):
                    continue
                if generation != self._generation or buffer:
                    continue
                if self._response_ended or not await self._wait_wake(self.stop_grace):
                    if generation == self._generation and self._speaking and not buffer:
                        await self._stop_speaking(interrupted=False)
                    continue
                if self.realtime:
                    pacer.resync()
                continue
            if not self._speaking:
                await self._start_speaking()
            elif self.realtime:
                await pacer.wait_turn()
            if generation != self._generation or not buffer:
                continue  # interrupted meanwhile: what we were about to play is gone
            chunk = buffer.take()
            if self._room is not None:
                self._room.set()
                self._room = None
            seconds = len(chunk) / self._bytes_per_second
            pacer.released(seconds)
            self.stats.chunks_written += 1
            self.stats.seconds_written += seconds
            await self.write_audio(chunk)
            if self.forward_audio:
                await self.push_frame(
                    OutputAudioFrame(
                        chunk, self.sample_rate, self.channels, encoding=self.encoding
                    ),
                    _DOWN,
                )
