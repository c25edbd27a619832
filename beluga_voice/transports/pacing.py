"""Real-time pacing of bot audio: absolute deadlines, a playback buffer, played-time accounting.

A speaker (or a browser at the far end of a socket) plays audio at its own fixed rate.  If we
hand it audio faster than it plays, the excess sits in a buffer we no longer control, and a
barge-in cannot take it back; if we hand it too slowly, it stutters.  So the output half of a
transport releases audio in fixed chunks (20 ms by default) exactly when the previous chunk
has finished playing.

The schedule uses **absolute deadlines**: chunk ``n`` is due at ``t0 + sum(durations before
n)``, never at ``previous wake-up + 20 ms``.  A late wake-up (the event loop was busy) then
makes one chunk late, not every chunk after it, so the drift does not accumulate.

Barge-in needs to know how much of the current response the listener actually heard, because
providers truncate their memory of the reply to that (see ``StreamingSession.interrupt``).
:class:`Pacer` knows when each released chunk started playing, so ``played`` is the released
time minus what is still in flight, not merely what was sent.

Nothing here sleeps on its own clock: the :class:`Clock` is injected, so tests drive pacing on
a virtual clock with deterministic jitter in no wall-clock time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

import anyio

__all__ = ["AnyioClock", "Clock", "Doorbell", "Pacer", "PlaybackBuffer"]


class Doorbell:
    """Wakes the playback task when audio (or an interruption) arrives.

    A wait may time out.  Waits with a timeout happen once per chunk in a live stream, and
    a cancel scope that fires costs far more than playing the chunk (anyio delivers the
    cancellation through several loop turns), so on asyncio the wait is one future and one
    timer handle.  Other backends use an ``anyio.Event`` and ``move_on_after``.
    """

    __slots__ = ("_event", "_rung", "_waiter")

    def __init__(self) -> None:
        self._rung = False
        self._waiter: asyncio.Future[None] | None = None
        self._event: anyio.Event | None = None

    def ring(self) -> None:
        self._rung = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self._event is not None:
            self._event.set()

    @property
    def rung(self) -> bool:
        return self._rung

    def answer(self) -> bool:
        """Whether it rang since the last answer; clears it."""
        rung, self._rung = self._rung, False
        return rung

    async def wait(self, timeout: float | None) -> bool:
        """Wait until it rings (True, cleared) or ``timeout`` seconds pass (False)."""
        if not self._rung:
            if timeout is not None and timeout <= 0:
                return self.answer()
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # not on asyncio (trio): the portable way
                await self._wait_anyio(timeout)
            else:
                await self._wait_asyncio(loop, timeout)
        return self.answer()

    async def _wait_asyncio(self, loop: asyncio.AbstractEventLoop, timeout: float | None) -> None:
        waiter: asyncio.Future[None] = loop.create_future()
        timer = None
        if timeout is not None:
            timer = loop.call_later(timeout, _settle, waiter)
        self._waiter = waiter
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    async def _wait_anyio(self, timeout: float | None) -> None:
        self._event = anyio.Event()
        try:
            with anyio.move_on_after(float("inf") if timeout is None else timeout):
                await self._event.wait()
        finally:
            self._event = None


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Clock(Protocol):
    """Where pacing reads the time and sleeps.  Seconds, monotonic."""

    def now(self) -> float:
        """The current time."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Return at (or after) ``deadline``."""
        ...

    async def wait_bell(self, bell: Doorbell, deadline: float) -> bool:
        """Wait for ``bell`` until ``deadline``; True (and answered) if it rang in time."""
        ...


class AnyioClock:
    """The event loop's monotonic clock (the default).

    ``now`` is read several times per released chunk, and ``anyio.current_time()`` looks
    the backend up on every call, which costs more than the rest of the pacing arithmetic
    together; on asyncio the running loop's ``time`` is cached (per loop) instead.
    """

    __slots__ = ("_loop", "_time")

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._time: Callable[[], float] = anyio.current_time

    def now(self) -> float:
        loop = asyncio._get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._time = anyio.current_time if loop is None else loop.time
        return self._time()

    async def sleep_until(self, deadline: float) -> None:
        await anyio.sleep_until(deadline)

    async def wait_bell(self, bell: Doorbell, deadline: float) -> bool:
        return await bell.wait(deadline - self.now())


class Pacer:
    """Absolute-deadline schedule of released audio, with played-time accounting.

    Call :meth:`begin` when a response starts playing, :meth:`wait_turn` before releasing
    each chunk and :meth:`released` after it.  :meth:`played` says how much of the response
    has been heard at a given moment.
    """

    __slots__ = ("_clock", "_next", "_released", "late_max", "lead")

    def __init__(self, clock: Clock | None = None, *, lead: float = 0.0) -> None:
        if lead < 0:
            raise ValueError(f"lead must not be negative, got {lead}")
        self._clock: Clock = clock or AnyioClock()
        self.lead = lead
        """How far ahead of playback a chunk may be released, in seconds.

        The far end always buffers a little (a sound card's period, a browser's jitter
        buffer).  Letting the schedule run ``lead`` ahead means a hiccup of the event loop
        shorter than ``lead`` costs no latency: without it, every late wake-up pushes the
        whole schedule back for good, exactly as a late packet does to a playout buffer.
        """
        self._next = 0.0  # when the audio released so far will have finished playing
        self._released = 0.0  # seconds of audio released in the current response
        self.late_max = 0.0
        """The worst lateness of a release, in seconds (a health metric)."""

    @property
    def clock(self) -> Clock:
        return self._clock

    def begin(self) -> None:
        """Start a response: the first chunk plays now."""
        self._next = self._clock.now()
        self._released = 0.0

    async def wait_turn(self) -> None:
        """Sleep until the audio already released has (all but ``lead``) finished playing."""
        due = self._next - self.lead
        now = self._clock.now()
        if now < due:  # usually true; when not, skip the sleep (a wasted loop iteration)
            await self._clock.sleep_until(due)
            now = self._clock.now()
        late = now - due
        if late > self.late_max:
            self.late_max = late

    def take_turn(self) -> bool:
        """:meth:`wait_turn` when it would not sleep: True (and lateness recorded) if it is
        time to release a chunk now, False (nothing changed) if it is not yet."""
        now = self._clock.now()
        late = now - (self._next - self.lead)
        if late < 0:
            return False
        if late > self.late_max:
            self.late_max = late
        return True

    def released(self, seconds: float) -> None:
        """Record that a chunk of ``seconds`` was handed over at its deadline."""
        self._next += seconds
        self._released += seconds

    def resync(self) -> None:
        """After an underrun: the buffer ran dry and audio came back after its deadline.

        The gap was silence, not audio we owe, so the schedule continues from now.  A late
        *wake-up* must not call this, or lateness would accumulate into drift.
        """
        now = self._clock.now()
        if now > self._next:
            self._next = now

    def played(self, now: float | None = None) -> float:
        """Seconds of the current response heard by ``now``: released minus still in flight."""
        if now is None:
            now = self._clock.now()
        in_flight = max(0.0, self._next - now)
        return max(0.0, self._released - in_flight)

    @property
    def released_seconds(self) -> float:
        return self._released

    @property
    def drained_at(self) -> float:
        """When everything released so far will have finished playing."""
        return self._next


class PlaybackBuffer:
    """Bot audio waiting to be played, cut into chunks of a fixed byte size.

    Only whole sample frames are ever cut, so a chunk never splits a sample.  ``clear``
    (barge-in) drops everything and says how much was dropped.
    """

    __slots__ = ("_buf", "chunk_bytes", "frame_bytes")

    def __init__(self, chunk_bytes: int, frame_bytes: int = 2) -> None:
        if frame_bytes < 1 or chunk_bytes < frame_bytes or chunk_bytes % frame_bytes:
            raise ValueError(
                f"chunk size {chunk_bytes} must be a positive multiple of the sample frame "
                f"size {frame_bytes}"
            )
        self._buf = bytearray()
        self.chunk_bytes = chunk_bytes
        self.frame_bytes = frame_bytes

    def __len__(self) -> int:
        return len(self._buf)

    def push(self, audio: bytes | memoryview) -> None:
        if len(audio) % self.frame_bytes:
            raise ValueError(
                f"{len(audio)} bytes is not a whole number of {self.frame_bytes}-byte frames"
            )
        self._buf += audio

    def take(self) -> bytes:
        """Up to one chunk (less only when less is buffered); empty when nothing is."""
        buf = self._buf
        if len(buf) <= self.chunk_bytes:  # the usual case in a live stream: one copy, not two
            chunk = bytes(buf)
            buf.clear()
            return chunk
        chunk = bytes(buf[: self.chunk_bytes])
        del buf[: self.chunk_bytes]
        return chunk

    def clear(self) -> int:
        """Drop everything buffered; returns the number of bytes dropped."""
        n = len(self._buf)
        self._buf.clear()
        return n
