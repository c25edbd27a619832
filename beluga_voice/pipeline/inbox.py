"""A processor's inbox: two anyio memory object streams and a doorbell.

* The **data lane** is bounded (backpressure): downstream data and control frames queue here
  in order.
* The **priority lane** carries system frames and everything travelling upstream.  It is
  read before the data lane, which is how a system frame overtakes queued data.

The consumer only ever sleeps on the data lane.  A producer that puts something on the
priority lane while the consumer sleeps (or is about to: ``receive()`` yields once before it
registers as a waiter) also drops one :data:`WAKE` token on the data lane, so one ``await``
serves both lanes without a select.
"""

from __future__ import annotations

import contextlib
from collections import deque
from typing import Final

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ..frames import Direction, Frame, FrameKind

__all__ = ["PRIORITY_CAPACITY", "WAKE", "Inbox"]

PRIORITY_CAPACITY: Final = 1024
"""Bound of the priority lane.  System frames are rare; the bound only guards runaways."""

_DOWN: Final = Direction.DOWNSTREAM
_SYSTEM: Final = FrameKind.SYSTEM


class _Wake:
    __slots__ = ()

    def __repr__(self) -> str:
        return "WAKE"


WAKE: Final = _Wake()


class Inbox:
    """The two lanes of one processor, plus the frames an interruption spared."""

    __slots__ = (
        "_data_recv",
        "_data_send",
        "_prio_recv",
        "_prio_send",
        "capacity",
        "sleeping",
        "spared",
    )

    def __init__(self, capacity: int) -> None:
        self._data_send: MemoryObjectSendStream[Frame | _Wake]
        self._data_recv: MemoryObjectReceiveStream[Frame | _Wake]
        self.resize(capacity)
        self._prio_send: MemoryObjectSendStream[tuple[Frame, Direction]]
        self._prio_recv: MemoryObjectReceiveStream[tuple[Frame, Direction]]
        self._prio_send, self._prio_recv = anyio.create_memory_object_stream[
            tuple[Frame, Direction]
        ](PRIORITY_CAPACITY)
        self.spared: deque[Frame] = deque()
        """Uninterruptible frames taken out of the data lane by a flush, read first."""
        self.sleeping = False
        """Set by the consumer around its wait on the data lane."""

    def resize(self, capacity: int) -> None:
        """Set the data lane's bound.  Only before use: queued frames would be lost."""
        if capacity < 1:
            raise ValueError(f"inbox capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._data_send, self._data_recv = anyio.create_memory_object_stream[Frame | _Wake](
            capacity
        )

    async def put(self, frame: Frame, direction: Direction) -> None:
        """Queue ``frame``; waits only when the data lane is full (backpressure)."""
        if direction is _DOWN and frame.kind is not _SYSTEM:
            try:
                self._data_send.send_nowait(frame)
            except anyio.WouldBlock:
                await self._data_send.send(frame)
            return
        item = (frame, direction)
        try:
            self._prio_send.send_nowait(item)
        except anyio.WouldBlock:
            await self._prio_send.send(item)
        if self.sleeping:
            self.sleeping = False  # one token wakes it; more would only take up room
            # If the lane is full the consumer is not asleep: nothing to wake.
            with contextlib.suppress(anyio.WouldBlock):
                self._data_send.send_nowait(WAKE)

    def flush(self, everything: bool = False) -> int:
        """Drop queued interruptible data frames; keep uninterruptible ones in order.

        ``everything=True`` (a cancel) drops uninterruptible frames too.  Returns how many
        frames were dropped.
        """
        dropped = 0
        spared = self.spared
        kept = [] if everything else [f for f in spared if f.uninterruptible]
        dropped += len(spared) - len(kept)
        spared.clear()
        spared.extend(kept)
        while True:
            try:
                frame = self._data_recv.receive_nowait()
            except anyio.WouldBlock:
                return dropped
            if frame is WAKE:
                continue
            assert isinstance(frame, Frame)
            if frame.uninterruptible and not everything:
                spared.append(frame)
            else:
                dropped += 1

    @property
    def depth(self) -> int:
        """Frames waiting in the data lane (the queue-depth metric)."""
        return self._data_send.statistics().current_buffer_used + len(self.spared)

    @property
    def priority_depth(self) -> int:
        return self._prio_send.statistics().current_buffer_used

    def close(self) -> None:
        self._data_send.close()
        self._data_recv.close()
        self._prio_send.close()
        self._prio_recv.close()
