"""The caller's clocks: real time, or a virtual clock that runs as fast as the agent allows.

A scripted caller lives on a timeline of 20 ms ticks: each tick it sends one chunk of
microphone audio (speech or silence) and plays one tick of the agent's reply on its
virtual loudspeaker.  The clock decides how a tick passes:

* :class:`RealClock` waits for the tick's due time, like a telephone line.  Use it
  against a server over WebSocket (which paces its audio in real time) and to measure
  real latencies.
* :class:`VirtualClock` does not wait: it lets the agent *settle* (every task of the
  event loop blocked, and no worker thread busy, the way ``trio.testing`` defines
  quiescence), then moves time on by one tick.  An agent whose every step is driven by
  the audio it receives (the mock, ``replay``, the local provider) therefore sees the
  same conversation as in real time, in the same order, only faster: a minute of
  conversation takes a fraction of a second.  Time the agent spends computing counts
  as zero, so latencies read on this clock are those the audio itself implies
  (endpointing silence, recorded gaps), deterministic from run to run.  An agent that
  waits on wall-clock timers (pacing sleeps, a remote server) does not fit a virtual
  clock: use real time for it.
"""

from __future__ import annotations

from typing import Protocol

import anyio
import anyio.lowlevel
import anyio.to_thread
import sniffio

__all__ = ["Clock", "RealClock", "VirtualClock", "settle"]


class Clock(Protocol):
    virtual: bool

    def now(self) -> float:
        """Milliseconds since the caller started."""
        ...

    async def advance(self, ms: float) -> None:
        """Let one tick of ``ms`` pass."""
        ...


class RealClock:
    """Wall-clock ticks, scheduled from a fixed origin so that they never drift."""

    virtual = False

    def __init__(self) -> None:
        self._origin = anyio.current_time()
        self._due = 0.0

    def now(self) -> float:
        return 1000.0 * (anyio.current_time() - self._origin)

    async def advance(self, ms: float) -> None:
        self._due += ms
        wait = self._due - self.now()
        if wait > 0:
            await anyio.sleep(wait / 1000.0)
        else:
            await anyio.lowlevel.checkpoint()


class VirtualClock:
    """Time moves by whole ticks once the agent has settled (see the module docstring).

    ``settle_timeout`` bounds, in real seconds, how long one tick may wait for the agent
    to settle; an agent still busy then is left to catch up (the tick passes anyway).
    """

    virtual = True

    def __init__(self, settle_timeout: float = 5.0) -> None:
        self._now = 0.0
        self.settle_timeout = settle_timeout

    def now(self) -> float:
        return self._now

    async def advance(self, ms: float) -> None:
        await settle(self.settle_timeout)
        self._now += ms


async def settle(timeout: float = 5.0) -> bool:
    """Wait until every other task is blocked and no worker thread runs (True), or
    ``timeout`` real seconds pass (False).

    Worker threads are those of anyio's default limiter (``anyio.to_thread.run_sync``),
    where the embedded engines run.  Quiet must hold over two consecutive looks with a
    loop iteration between them, so that a socket read whose data already arrived (a
    local fake server) is seen as pending work, not as a blocked task.
    """
    limiter = anyio.to_thread.current_default_thread_limiter()
    with anyio.move_on_after(timeout):
        quiet = 0
        while quiet < 2:
            await anyio.lowlevel.checkpoint()
            if limiter.borrowed_tokens:
                quiet = 0
                await anyio.sleep(0.0002)  # a thread computes: give it the processor
            elif await _all_blocked():
                quiet += 1
            else:
                quiet = 0
        return True
    return False


async def _all_blocked() -> bool:
    if sniffio.current_async_library() == "trio":
        import trio.testing

        await trio.testing.wait_all_tasks_blocked(cushion=0.0)
        return True
    import asyncio

    this = asyncio.current_task()
    for task in asyncio.all_tasks():
        if task is this or task.done():
            continue
        waiter = getattr(task, "_fut_waiter", None)
        if waiter is None or waiter.done():
            return False
    return True
