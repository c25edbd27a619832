"""Per-session input limits of the WebSocket server: fairness between clients.

One client must not be able to take what belongs to all: a client that sends audio much
faster than real time would keep the recogniser (and the event loop) busy for everyone
else, and one that sends event after event would queue reply after reply.  Both are held
to a rate with a token bucket (:class:`TokenBucket`): a burst is allowed, then the rate.

* Audio over the rate is **delayed**, never dropped: the session stops reading the socket
  until the bucket refills, so TCP pushes back on the client (no memory grows).
* Events over the rate are **refused** with an ``error`` event (code ``rate_limited``); a
  client that keeps it up is closed with 1008 (policy violation).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

__all__ = ["TokenBucket"]

_SLACK = 1e-6
"""Tokens forgiven to float rounding: ``(now - stamp) * rate`` for exactly one token's
time comes out up to ~1e-7 under 1 at large monotonic clock values (months of uptime),
and a client sending at exactly the rate must not be refused for it."""


@dataclass(slots=True)
class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; starts full."""

    rate: float
    burst: float
    tokens: float = field(init=False)
    stamp: float = field(init=False, default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst <= 0:
            raise ValueError("rate and burst must be positive")
        self.tokens = self.burst

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self, amount: float = 1.0, now: float | None = None) -> float:
        """Take ``amount``; return how long to wait before acting (0: at once).

        The debt is recorded, so callers that wait the returned time stay at ``rate``.
        """
        self._refill(time.monotonic() if now is None else now)
        self.tokens -= amount
        return 0.0 if self.tokens >= -_SLACK else -self.tokens / self.rate

    def try_take(self, amount: float = 1.0, now: float | None = None) -> bool:
        """Take ``amount`` if the bucket holds it (False: refused, nothing taken)."""
        self._refill(time.monotonic() if now is None else now)
        if self.tokens < amount - _SLACK:
            return False
        self.tokens -= amount
        return True

    def give_back(self, amount: float) -> None:
        """Return ``amount`` just taken with :meth:`try_take` and not used after all."""
        self.tokens = min(self.burst, self.tokens + amount)
