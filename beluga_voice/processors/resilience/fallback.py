"""``Fallback([processor, ...])``: move the work to the next processor when one fails."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import anyio

from ...frames import CancelFrame, ProviderSwitchedFrame
from ...pipeline.processor import FrameProcessor
from ...providers.circuit import CircuitBreaker
from .policy import ResiliencePolicy
from .s2s import s2s_with_fallback
from .wrapper import Failure, WrappingProcessor

__all__ = ["Fallback"]

log = logging.getLogger("beluga_voice.resilience")


class Fallback(WrappingProcessor):
    """Processors in order of preference; the work moves to the next one when the active
    processor fails, stalls (``stall_timeout``) or has not started its reply within
    ``first_reply_timeout`` of the end of a turn's input (the latency budget; the switch
    only happens if another processor starts).

    The turn in progress is replayed to the processor that takes over (see
    :class:`~.wrapper.WrappingProcessor`), and each switch is announced with a
    ``ProviderSwitchedFrame`` (reasons ``error``, ``stall``, ``latency``, ``recovered``).
    A :class:`~beluga_voice.providers.circuit.CircuitBreaker` per processor keeps the
    work away from one that keeps failing; while a less preferred processor serves, the
    preferred ones are probed in the wrapper's own task every ``probe_cooldown`` seconds,
    only at rest (no turn in progress): a probe starts the processor again and, if it
    starts cleanly, the work moves back.

    When every processor is an S2S processor, the switch happens inside one
    :class:`~beluga_voice.processors.s2s.S2SProcessor` over a
    :class:`~beluga_voice.providers.fallback.FallbackProvider` built with the same policy:
    the provider journal replays exactly the user audio no provider answered yet.
    """

    def __init__(
        self,
        processors: Sequence[FrameProcessor],
        policy: ResiliencePolicy | None = None,
        *,
        name: str | None = None,
        **overrides: Any,
    ) -> None:
        policy = policy or ResiliencePolicy(first_reply_timeout=1.0, stall_timeout=2.0)
        if overrides:
            from dataclasses import replace

            policy = replace(policy, **overrides)
        processors = list(processors)
        single = s2s_with_fallback(processors, policy)
        chosen = [single] if single is not None else processors
        super().__init__(
            chosen, policy, name or f"Fallback[{', '.join(p.name for p in processors)}]"
        )
        self.breakers = [
            CircuitBreaker(
                failure_threshold=policy.failure_threshold, cooldown=policy.breaker_cooldown
            )
            for _ in self.hosts
        ]
        self.switches = 0
        self._next_probe_at: float | None = None
        self._tried: set[int] = set()
        """Processors that failed the turn in progress (each is tried once per turn)."""

    def _heals(self, failure: Failure) -> bool:
        return len(self.hosts) > 1  # another processor may well do what this one cannot

    def _on_turn_done(self) -> None:
        self.breakers[self.active].record_success()

    def _turn_over(self) -> None:
        super()._turn_over()
        self._tried = set()

    async def _recover(self, failure: Failure) -> None:
        self.breakers[failure.index].record_failure()
        if await self._switch(failure, failure.reason):
            return
        names = ", ".join(h.name for h in self.hosts)
        await self._give_up(failure, f"all of {names} failed: {failure.describe(self.name)}")

    async def _on_slow(self, failure: Failure) -> None:
        slow = self.active
        if await self._switch(failure, "latency"):
            self.breakers[slow].record_failure()  # too slow counts against it
        # else nothing better: keep waiting for the slow one

    async def _switch(self, failure: Failure, reason: str) -> bool:
        n = len(self.hosts)
        old = self.active
        self._tried.add(old)
        for index in ((old + k) % n for k in range(1, n)):
            if index in self._tried or not self.breakers[index].allow():
                continue
            if await self._move_to(index, failure if reason != "latency" else None, reason):
                return True
        return False

    async def _move_to(self, index: int, failure: Failure | None, reason: str) -> bool:
        """Start ``index`` if needed, make it active and give it the turn in progress."""
        async with self._lock:
            if not await self._reset(index, None):
                self.breakers[index].record_failure()
                log.info("%s: %s did not start", self.name, self.hosts[index].name)
                return False
            old, self.active = self.active, index
            self.failure = None
            self.switches += 1
            old_host = self.hosts[old]
            if old_host.started:
                # What it holds (a session, a worker) is released; a probe restarts it.
                await old_host.stop(CancelFrame(reason="switched away"))
            log.warning(
                "%s: switched from %s to %s (%s)",
                self.name,
                old_host.name,
                self.hosts[index].name,
                reason,
            )
            await self.push_frame(
                ProviderSwitchedFrame(old_host.name, self.hosts[index].name, reason)
            )
            await self._replay(failure)
        self._next_probe_at = anyio.current_time() + self.policy.probe_cooldown
        return True

    # -- probing the preferred processors --------------------------------------------------------

    def _extra_deadline(self) -> float | None:
        if self.active == 0 or self._next_probe_at is None:
            return None
        return self._next_probe_at

    async def _on_extra_deadline(self) -> None:
        self._next_probe_at = anyio.current_time() + self.policy.probe_cooldown
        if self.journal.has_work() or self._replying or self._awaiting_since is not None:
            return  # only at rest: a probe never disturbs a turn
        for index in range(self.active):
            if not self.breakers[index].allow():
                continue
            if await self._move_to(index, None, "recovered"):
                return
