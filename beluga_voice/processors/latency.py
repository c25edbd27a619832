"""Per-turn latency: end of user speech to first reply audio, against a budget."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["TurnLatency"]


@dataclass
class TurnLatency:
    """Measures each turn's time to first audio and whether it met ``budget`` seconds.

    ``user_stopped()`` marks the end of user speech (the latest mark wins: a VAD stop and
    a server's turn end may both arrive); ``first_audio()`` closes the turn on the first
    reply audio after it.  ``clock`` is injectable for tests.
    """

    budget: float
    samples: list[float] = field(default_factory=list)
    clock: Callable[[], float] = time.monotonic
    _mark: float | None = None

    def user_stopped(self) -> None:
        self._mark = self.clock()

    def first_audio(self) -> None:
        mark = self._mark
        if mark is None:
            return
        self.samples.append(self.clock() - mark)
        self._mark = None

    @property
    def within_budget(self) -> float:
        """Fraction of measured turns whose first audio came within the budget (1.0 if none)."""
        if not self.samples:
            return 1.0
        return sum(s <= self.budget for s in self.samples) / len(self.samples)

    @property
    def last(self) -> float | None:
        return self.samples[-1] if self.samples else None
