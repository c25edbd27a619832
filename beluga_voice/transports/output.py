"""The output half of a transport: paced playback of bot audio, speaking state, barge-in.

See :class:`OutputTransport`.  The pacing arithmetic (absolute deadlines, played-time
accounting) lives in :mod:`.pacing`, the play task that runs it in :mod:`.playback` (the
base class); this module takes the pipeline's frames in.
"""

from __future__ import annotations

from typing import Final

import anyio

from ..frames import (
    AudioEncoding,
    Direction,
    EndFrame,
    Frame,
    InterruptionFrame,
    OutputAudioFrame,
    ResponseEndFrame,
    StartFrame,
)
from .pacing import Clock, Doorbell, Pacer, PlaybackBuffer
from .playback import OutputStats, Playback

__all__ = ["OutputStats", "OutputTransport"]

_DOWN: Final = Direction.DOWNSTREAM


class OutputTransport(Playback):
    """Sink half of a transport: paced playback of bot audio, speaking state, barge-in.

    Subclasses implement :meth:`write_audio` (hand one chunk to the device) and may override
    :meth:`write_frame` to deliver other frames (transcripts, errors) to the peer.

    * ``chunk_ms``: size of each released chunk (default 20 ms).
    * ``realtime``: pace chunks at playback speed (a device, a socket) or write them as fast
      as the sink takes them (a file).
    * ``stop_grace``: how long the buffer may stay dry before the bot counts as having
      stopped speaking (network jitter between chunks of one reply must not split it).  A
      :class:`~beluga_voice.frames.ResponseEndFrame` ends the reply without waiting.
    * ``sample_rate``: the rate bot audio is played at; default the StartFrame's output rate.
      Frames at another rate or channel count are rejected with an error frame: resample
      upstream (the S2S processor delivers the pipeline's output rate).
    * ``lead_ms``: how far ahead of playback chunks may be released (default one chunk;
      the far end buffers that much anyway).  A scheduling hiccup shorter than the lead
      adds no latency; see :attr:`~.pacing.Pacer.lead`.
    * ``forward_audio``: pass each chunk on downstream after it was written, so that a
      recorder placed after this half records what was played, not what was generated.
    * ``max_buffer_s``: the most bot audio held for playback (default 10 s).  Overflow
      policy: backpressure.  Audio that would go past it waits until playback has made
      room, which holds the producer back (a provider's reader, a TTS), so a client that
      asks for reply after reply cannot queue minutes of audio; an interruption queued
      meanwhile ends the wait at once.  Nothing is dropped.  It holds unpaced output too
      (a slow sink is a slow sink), and a frame longer than the room left is taken in
      pieces.  Once the play task has ended (its failure reported), audio that still
      comes is counted in ``stats.seconds_dropped`` instead of being kept.

    The bot starts speaking when the first chunk of a reply is released:
    :class:`~beluga_voice.frames.BotStartedSpeakingFrame` goes upstream and downstream.  When
    the reply has finished playing, :class:`~beluga_voice.frames.BotStoppedSpeakingFrame`
    with the milliseconds played.  On an :class:`~beluga_voice.frames.InterruptionFrame`
    everything not yet released is dropped and ``BotStoppedSpeakingFrame(played_ms=...,
    interrupted=True)`` reports how much the listener actually heard.
    """

    def __init__(
        self,
        *,
        chunk_ms: float = 20.0,
        realtime: bool = True,
        stop_grace: float = 0.2,
        sample_rate: int | None = None,
        channels: int = 1,
        lead_ms: float | None = None,
        forward_audio: bool = False,
        clock: Clock | None = None,
        name: str | None = None,
        inbox_capacity: int | None = None,
        max_buffer_s: float = 10.0,
    ) -> None:
        super().__init__(name=name, inbox_capacity=inbox_capacity)
        if max_buffer_s <= 0:
            raise ValueError(f"max_buffer_s must be positive, got {max_buffer_s}")
        self.max_buffer_s = max_buffer_s
        if chunk_ms <= 0:
            raise ValueError(f"chunk_ms must be positive, got {chunk_ms}")
        if stop_grace < 0:
            raise ValueError(f"stop_grace must not be negative, got {stop_grace}")
        self.chunk_ms = chunk_ms
        self.realtime = realtime
        self.stop_grace = stop_grace
        self.channels = channels
        self.forward_audio = forward_audio
        self._fixed_rate = sample_rate
        self.sample_rate = sample_rate or 24000
        self.encoding: AudioEncoding = "pcm16"
        """The encoding of the audio played (the StartFrame's ``audio_encoding``)."""
        self._width = 2
        self.pacer = Pacer(clock, lead=(chunk_ms if lead_ms is None else lead_ms) / 1000)
        self.stats = OutputStats()
        self._buffer: PlaybackBuffer | None = None
        self._wake = Doorbell()
        self._room: anyio.Event | None = None
        """Set when playback takes a chunk, for a producer waiting on a full buffer."""
        self._idle = anyio.Event()
        self._idle.set()
        self._speaking = False
        self._playing = False
        self._response_ended = False
        self._generation = 0
        self._parked = False
        """The play task waits in :meth:`_wait_dry`: audio may be released inline."""

    @property
    def speaking(self) -> bool:
        return self._speaking

    @property
    def buffered_seconds(self) -> float:
        return len(self._buffer) / self._bytes_per_second if self._buffer else 0.0

    # -- processor -----------------------------------------------------------------------

    async def on_start(self, frame: StartFrame) -> None:
        self.sample_rate = self._fixed_rate or frame.output_sample_rate
        self.encoding = frame.audio_encoding
        self._width = 2 if self.encoding == "pcm16" else 1
        frame_bytes = self._width * self.channels
        samples = max(1, round(self.sample_rate * self.chunk_ms / 1000))
        self._buffer = PlaybackBuffer(samples * frame_bytes, frame_bytes)
        self._playing = True
        self.create_task(self._play_loop, name=f"{self.name}.play")

    async def on_stop(self) -> None:
        if isinstance(self.current_frame, EndFrame):
            # Graceful end: play out what is buffered first (the runner's stop deadline
            # bounds this wait).
            self._response_ended = True
            self._wake.ring()
            while self._playing and ((self._buffer and len(self._buffer)) or self._speaking):
                self._idle = anyio.Event() if self._idle.is_set() else self._idle
                await self._idle.wait()
        elif self._buffer is not None:
            self._buffer.clear()

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if direction is _DOWN and isinstance(frame, OutputAudioFrame):
            await self._enqueue(frame)
            return
        if direction is _DOWN:
            await self.write_frame(frame)  # the peer hears of an interruption first
        if isinstance(frame, InterruptionFrame):
            await self._interrupt()
        elif direction is _DOWN and isinstance(frame, ResponseEndFrame):
            self._response_ended = True
            self._wake.ring()
        await self.push_frame(frame, direction)

    # -- internals -----------------------------------------------------------------------

    async def _enqueue(self, frame: OutputAudioFrame) -> None:
        if self._buffer is None:
            raise RuntimeError(f"{self.name}: audio arrived before the StartFrame")
        if (
            frame.sample_rate != self.sample_rate
            or frame.channels != self.channels
            or frame.encoding != self.encoding
        ):
            await self.push_error(
                f"{self.name} plays {self.encoding} {self.sample_rate} Hz x{self.channels}; "
                f"got {frame.encoding} {frame.sample_rate} Hz x{frame.channels} "
                "(resample upstream)",
                code="invalid_audio_format",
            )
            return
        if not frame.audio:
            return
        if self._parked and await self._release_inline(frame.audio):
            return
        await self._buffer_audio(frame.audio)

    async def _buffer_audio(self, audio: bytes) -> None:
        """Add ``audio`` to the playback buffer, never past ``max_buffer_s`` of it.

        A frame longer than the room left goes in piece by piece as playback makes room,
        so that one long reply (a TTS of a whole page) is held back like many short ones.
        """
        buffer = self._buffer
        assert buffer is not None
        frame_bytes = buffer.frame_bytes
        limit = max(
            buffer.chunk_bytes,
            int(self.max_buffer_s * self._bytes_per_second) // frame_bytes * frame_bytes,
        )
        view = memoryview(audio)
        while view:
            await self._wait_for_room(limit)
            if not self._playing:
                # The play task has ended (its failure was reported as an error): nothing
                # will play this, so it is counted as dropped rather than hoarded.
                self.stats.seconds_dropped += len(view) / self._bytes_per_second
                return
            room = limit - len(buffer)
            if room < buffer.chunk_bytes or self.system_frames_waiting:
                # An interruption is waiting and drops what is buffered next: no point
                # holding the rest back in pieces.
                room = len(view)
            piece, view = view[:room], view[room:]
            buffer.push(piece)
            held = len(buffer) / self._bytes_per_second
            if held > self.stats.buffered_max_s:
                self.stats.buffered_max_s = held
            self._response_ended = False
            self._idle = anyio.Event() if self._idle.is_set() else self._idle
            self._wake.ring()

    async def _wait_for_room(self, limit: int) -> None:
        """Backpressure: wait while ``limit`` bytes of audio are already waiting to play.

        Paced or not: a sink that takes audio slowly (a client that reads slowly, a slow
        disk) holds the producer back just as playback speed does.
        """
        buffer = self._buffer
        while (
            buffer is not None
            and len(buffer) + buffer.chunk_bytes > limit
            and self._playing
            and not self.system_frames_waiting
        ):
            self._room = room = anyio.Event()
            # Room comes with the next chunk played (every chunk_ms); an interruption
            # queued meanwhile is seen at the next check.
            with anyio.move_on_after(self.chunk_ms / 1000):
                await room.wait()

    async def _interrupt(self) -> None:
        self._generation += 1
        self.stats.interruptions += 1
        if self._buffer is not None:
            self.stats.seconds_dropped += self._buffer.clear() / self._bytes_per_second
        if self._speaking:
            await self._stop_speaking(interrupted=True)
        self._wake.ring()
