"""A processor's inbox: two anyio memory object streams and a waiter.

* The **data lane** is bounded (backpressure): downstream data and control frames queue here
  in order.
* The **priority lane** carries system frames and everything travelling upstream.  It is
  read before the data lane, which is how a system frame overtakes queued data.

The consumer reads both lanes with ``receive_nowait`` and, only when both are empty, parks
on a single waiter that any ``put`` wakes.  Waiting this way instead of in the stream's own
``receive()`` matters: ``receive()`` yields once before it registers (so it cannot serve
two lanes without a race) and costs about three times as much per wake-up, which is most
of a hop's cost when frames arrive one at a time in real time.  On asyncio the waiter is a
bare future; on other anyio backends an ``anyio.Event``.  While the consumer is parked
there, a pusher may hand it a frame directly instead (``handoff.py``); any ``put`` that
wakes it also closes its hand-off door (``handoff.Door``), so that it sees what was queued
first.  The consumer reads the two lanes' receiving ends (``priority_lane``, ``data_lane``)
directly: they are the inbox's public reading side.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Final

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ..frames import Direction, Frame, FrameKind, InterruptionFrame

if TYPE_CHECKING:
    from .handoff import Door

__all__ = ["PRIORITY_CAPACITY", "Inbox"]

PRIORITY_CAPACITY: Final = 1024
"""Bound of the priority lane.  System frames are rare; the bound only guards runaways."""

_DOWN: Final = Direction.DOWNSTREAM
_SYSTEM: Final = FrameKind.SYSTEM


class Inbox:
    """The two lanes of one processor, plus the frames an interruption spared."""

    __slots__ = (
        "_data_send",
        "_loop",
        "_marks",
        "_prio_send",
        "capacity",
        "data_in",
        "data_lane",
        "data_out",
        "door",
        "prio_count",
        "priority_lane",
        "sending",
        "spared",
        "waiter",
    )

    def __init__(self, capacity: int, *, door: Door | None = None) -> None:
        self.door = door
        """The hand-off door of the processor reading this inbox (a pusher may hand it a
        frame directly while it is open)."""
        self._data_send: MemoryObjectSendStream[Frame]
        self.data_lane: MemoryObjectReceiveStream[Frame]
        """The data lane's receiving end, read by the consumer only."""
        self.resize(capacity)
        self._prio_send: MemoryObjectSendStream[tuple[Frame, Direction]]
        self.priority_lane: MemoryObjectReceiveStream[tuple[Frame, Direction]]
        """The priority lane's receiving end, read by the consumer only."""
        self._prio_send, self.priority_lane = anyio.create_memory_object_stream[
            tuple[Frame, Direction]
        ](PRIORITY_CAPACITY)
        self.spared: deque[Frame] = deque()
        """Uninterruptible frames taken out of the data lane by a flush, read first."""
        self.waiter: asyncio.Future[None] | anyio.Event | None = None
        """What the parked consumer waits on; None while it is not parked."""
        self.prio_count = 0
        """Frames put on the priority lane and not yet taken: lets the consumer skip the
        lane without the cost of a ``WouldBlock`` exception on every data frame."""
        self.data_in = 0
        self.data_out = 0
        """Data frames queued and taken so far.  An interruption notes ``data_in`` as it
        is queued (in ``_marks``), so that it flushes what was queued *before* it and not
        the start of a new reply queued after it."""
        self._marks: deque[int] = deque()
        self.sending = 0
        """Senders waiting for room.  While one waits, its frame may already sit in the
        lane uncounted, so the consumer must not take frames directly meanwhile."""
        self._loop: asyncio.AbstractEventLoop | None = None

    def resize(self, capacity: int) -> None:
        """Set the data lane's bound.  Only before use: queued frames would be lost."""
        if capacity < 1:
            raise ValueError(f"inbox capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._data_send, self.data_lane = anyio.create_memory_object_stream[Frame](capacity)

    def put_nowait(self, frame: Frame, direction: Direction) -> bool:
        """Queue ``frame`` if its lane has room (the common case); False if it has not."""
        if direction is _DOWN and frame.kind is not _SYSTEM:
            try:
                self._data_send.send_nowait(frame)
            except anyio.WouldBlock:
                return False
            self.data_in += 1
        else:
            if isinstance(frame, InterruptionFrame):
                self._marks.append(self.data_in)
            try:
                self._prio_send.send_nowait((frame, direction))
            except anyio.WouldBlock:
                if isinstance(frame, InterruptionFrame):
                    self._marks.pop()
                return False
            self.prio_count += 1
        if self.waiter is not None:
            self.wake()
        return True

    async def put(self, frame: Frame, direction: Direction) -> None:
        """Queue ``frame``; waits only when its lane is full (backpressure)."""
        if self.put_nowait(frame, direction):
            return
        self.sending += 1
        try:
            if direction is _DOWN and frame.kind is not _SYSTEM:
                await self._data_send.send(frame)
                self.data_in += 1
            else:
                if isinstance(frame, InterruptionFrame):
                    self._marks.append(self.data_in)
                self.prio_count += 1
                await self._prio_send.send((frame, direction))
        finally:
            self.sending -= 1
        if self.waiter is not None:
            self.wake()

    def wake(self) -> None:
        """Wake the parked consumer; it must see what was queued, so no hand-off meanwhile."""
        if self.door is not None:
            self.door.open = False
        waiter, self.waiter = self.waiter, None
        if isinstance(waiter, asyncio.Future):
            if not waiter.done():
                waiter.set_result(None)
        elif waiter is not None:
            waiter.set()

    async def wait(self) -> None:
        """Park the consumer until the next ``put`` (call only when both lanes are empty)."""
        loop = self._loop
        if loop is None:
            try:
                loop = self._loop = asyncio.get_running_loop()
            except RuntimeError:  # not asyncio (trio): the portable, slower way
                event = anyio.Event()
                self.waiter = event
                await event.wait()
                return
        future: asyncio.Future[None] = loop.create_future()
        self.waiter = future
        await future

    def flush(self, everything: bool = False) -> int:
        """Drop queued interruptible data frames; keep uninterruptible ones in order.

        For an interruption (the default) only the frames queued before it are considered;
        ``everything=True`` (a cancel) drops all queued frames, uninterruptible ones too.
        Returns how many frames were dropped.
        """
        if everything:
            limit = None
        elif self._marks:
            limit = self._marks.popleft() - self.data_out
        else:  # an interruption that did not come through put(): flush all
            limit = None
        dropped = 0
        spared = self.spared
        kept = [] if everything else [f for f in spared if f.uninterruptible]
        dropped += len(spared) - len(kept)
        spared.clear()
        spared.extend(kept)
        while limit is None or limit > 0:
            try:
                frame = self.data_lane.receive_nowait()
            except anyio.WouldBlock:
                break
            self.data_out += 1
            if limit is not None:
                limit -= 1
            if frame.uninterruptible and not everything:
                spared.append(frame)
            else:
                dropped += 1
        return dropped

    @property
    def depth(self) -> int:
        """Frames waiting in the data lane (the queue-depth metric)."""
        return self._data_send.statistics().current_buffer_used + len(self.spared)

    @property
    def priority_depth(self) -> int:
        return self.prio_count

    def take_priority(self) -> list[tuple[Frame, Direction]]:
        """Take every frame left on the priority lane (the runner, as the run ends)."""
        taken = []
        while True:
            try:
                taken.append(self.priority_lane.receive_nowait())
                self.prio_count -= 1
            except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.EndOfStream):
                return taken

    def close(self) -> None:
        self._data_send.close()
        self.data_lane.close()
        self._prio_send.close()
        self.priority_lane.close()
