"""``Retry(processor)``: re-run a failed unit of work on the same processor."""

from __future__ import annotations

import logging
import random
from typing import Any

import anyio

from ...frames import ProviderSwitchedFrame
from ...pipeline.processor import FrameProcessor
from ...providers.retry import Backoff
from .policy import ResiliencePolicy
from .s2s import s2s_with_retry
from .wrapper import Failure, WrappingProcessor

__all__ = ["Retry"]

log = logging.getLogger("beluga_voice.resilience")


class Retry(WrappingProcessor):
    """Wraps any processor; a failed unit of work is done again after a pause.

    The unit of work is a turn for the cascade (a user utterance for STT, a reply for an
    agent or a TTS: see :func:`~.policy.is_turn_done`) and the whole session for an S2S
    processor, whose provider is then wrapped in
    :class:`~beluga_voice.providers.retry.RetryingProvider` with the same policy (one
    mechanism: the provider journal knows exactly which user audio was answered).

    A failure is an error the processor reports whose code is retryable (a fatal one
    restarts the processor: its ``on_cleanup`` then ``on_start``), or, with
    ``stall_timeout``, a reply that stopped.  The turn's input frames are replayed after a
    :class:`~beluga_voice.providers.retry.Backoff` wait; each retry is announced with a
    ``ProviderSwitchedFrame(reason="retry")``; a reply the user already heard more than
    ``replay_cut_reply_under`` of is not answered again but reported (``reply_cut``).
    After ``max_retries`` attempts the error reaches the app once and work goes on with
    the next turn.  The counter resets when a unit of work completes.

    ``policy`` defaults to :class:`~.policy.ResiliencePolicy` (``from_config`` follows an
    S2S config); keyword ``overrides`` replace single fields.
    """

    def __init__(
        self,
        processor: FrameProcessor,
        policy: ResiliencePolicy | None = None,
        *,
        name: str | None = None,
        rng: random.Random | None = None,
        **overrides: Any,
    ) -> None:
        policy = policy or ResiliencePolicy()
        if overrides:
            from dataclasses import replace

            policy = replace(policy, **overrides)
        processor = s2s_with_retry(processor, policy, rng=rng) or processor
        super().__init__([processor], policy, name or f"Retry[{processor.name}]")
        self.backoff = Backoff(policy.retry_delay, policy.retry_backoff, rng=rng)
        self.attempts = 0

    def _on_turn_done(self) -> None:
        self.attempts = 0

    async def _recover(self, failure: Failure) -> None:
        inner = self.hosts[0].name
        while True:
            self.attempts += 1
            if not failure.retryable or self.attempts > self.policy.max_retries:
                retries = self.attempts - 1
                self.attempts = 0
                await self._give_up(
                    failure, f"{inner}: gave up after {retries} retries: {failure.describe(inner)}"
                )
                return
            wait = self.backoff(self.attempts)
            log.warning(
                "%s: %s; retry %d/%d in %.2f s",
                inner,
                failure.code,
                self.attempts,
                self.policy.max_retries,
                wait,
            )
            await anyio.sleep(wait)
            async with self._lock:
                if await self._reset(0, failure):
                    self.failure = None
                    await self.push_frame(ProviderSwitchedFrame(inner, inner, "retry"))
                    await self._replay(failure)
                    return
            error = self._errors.get(0)
            failure = Failure(0, "error", error) if error is not None else failure
