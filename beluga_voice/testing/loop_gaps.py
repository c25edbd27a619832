"""How long the event loop stalls: a ticker that wants to wake every few milliseconds.

Whatever blocks the loop (a quadratic join, a native call holding the GIL) delays every
task on it; a ticker sharing the loop sees that delay as a gap between its wake-ups,
which is what every other session on a server would feel.  Used by the tests and
benchmarks of a shared server (a client blasting audio must not stall the others).
"""

from __future__ import annotations

from collections.abc import Callable

import anyio

__all__ = ["LoopGapMeter"]


class LoopGapMeter:
    """Run :meth:`run` as a task beside the load; it ticks every ``period`` seconds until
    ``stop`` is set.  ``probe`` (optional) is read at every tick and its largest value
    kept in :attr:`peak`: a queue's length, say."""

    def __init__(self, period: float = 0.005, probe: Callable[[], int] | None = None) -> None:
        self.period = period
        self.probe = probe
        self.gaps: list[float] = []
        self.peak = 0

    async def run(self, stop: anyio.Event) -> None:
        last = anyio.current_time()
        while not stop.is_set():
            with anyio.move_on_after(self.period):  # a timeout, so that stop ends it at once
                await stop.wait()
            now = anyio.current_time()
            self.gaps.append(now - last)
            last = now
            if self.probe is not None:
                self.peak = max(self.peak, self.probe())

    @property
    def longest(self) -> float:
        """The longest time between two wake-ups, in seconds."""
        return max(self.gaps, default=0.0)

    def percentile(self, q: float) -> float:
        """The ``q``-quantile (0-1) of the gaps, in seconds."""
        if not self.gaps:
            return 0.0
        ordered = sorted(self.gaps)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
