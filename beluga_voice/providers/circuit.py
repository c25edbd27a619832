"""A circuit breaker: stop sending sessions to a provider that keeps failing.

Closed (normal) -> after ``failure_threshold`` consecutive failures -> open: nobody uses
the provider for ``cooldown`` seconds -> half-open: one trial (a new session or a recovery
probe) is let through; success closes the circuit, failure opens it again for twice as
long (up to ``max_cooldown``).  Without it every new conversation would first wait for a
dead primary to time out before falling back.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

__all__ = ["BreakerState", "CircuitBreaker"]


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Failure bookkeeping for one provider; shared by every session that uses it."""

    def __init__(
        self,
        *,
        failure_threshold: int = 3,
        cooldown: float = 30.0,
        max_cooldown: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be at least 1, got {failure_threshold}")
        if cooldown <= 0 or max_cooldown < cooldown:
            raise ValueError("need 0 < cooldown <= max_cooldown")
        self.failure_threshold = failure_threshold
        self.base_cooldown = cooldown
        self.cooldown = cooldown
        self.max_cooldown = max_cooldown
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self._trial = False

    @property
    def state(self) -> BreakerState:
        if self.opened_at is None:
            return BreakerState.CLOSED
        if self.clock() - self.opened_at >= self.cooldown:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self) -> bool:
        """May a session (or probe) use the provider now?  Half-open lets one trial pass."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._trial:
            self._trial = True
            return True
        return False

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.cooldown = self.base_cooldown
        self._trial = False

    def record_failure(self) -> None:
        self.failures += 1
        if self.opened_at is not None:  # a failed trial: back off harder
            self.cooldown = min(self.max_cooldown, self.cooldown * 2)
            self.opened_at = self.clock()
        elif self.failures >= self.failure_threshold:
            self.opened_at = self.clock()
        self._trial = False

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self.state.value} failures={self.failures}>"
