"""Fallback: keep the conversation going on another provider when one fails or dawdles.

:class:`FallbackProvider` takes providers in order of preference.  Its sessions move the
live conversation to the next provider, mid-session, when the current one

* fails in a way its own retries (see :mod:`.retry`) did not fix,
* has not started answering within the latency target's budget after the user's turn
  ended (``config.latency_budget``; the switch only happens if another provider opens),
* or stalls: reply audio started and then nothing arrived for ``stall_timeout`` seconds.

The user audio of the turn in progress is kept in a ring buffer and replayed to the new
provider, so no speech is lost; a turn whose reply was cut after the user heard
``config.replay_cut_reply_under`` seconds of it is reported (``reply_cut``) rather than
answered twice, unless ``replay_started_turns`` is set (see :mod:`.replay`).  Each switch
yields a :class:`~beluga_voice.providers.events.ProviderSwitched` event.

A :class:`~.circuit.CircuitBreaker` per provider, shared by all sessions, keeps new
sessions and switches away from a provider that keeps failing.  While a session runs on
a less preferred provider it probes the preferred ones again (no more often than every
``probe_cooldown`` seconds, and only while nothing is in flight: no user speech, no
unanswered turn, no reply).  The probe runs inside the session's own iteration, bounded
by ``probe_timeout``, so it needs no background task; a successful probe *is* the switch
back.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

import anyio
from pydantic import BaseModel, ConfigDict, Field

from ..conversation import ConversationContext, new_conversation_context
from .base import ProviderWrapper, S2SProvider, StreamingSession
from .circuit import CircuitBreaker
from .config import S2SConfig
from .errors import ErrorCode, S2SError
from .events import ProviderSwitched, SessionEvent
from .resilient_session import CALLER_ERRORS, ResilientSession
from .types import AudioInput, AudioOutput

__all__ = ["FallbackProvider", "FallbackSession", "FallbackSettings"]

log = logging.getLogger("beluga_voice.resilience")


class FallbackSettings(BaseModel):
    """Tuning of :class:`FallbackProvider`; the defaults suit conversational use."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    first_audio_timeout: float | None = Field(default=None, gt=0)
    """Seconds from end of user turn to first reply audio; None: ``config.latency_budget``."""
    switch_on_latency: bool = True
    stall_timeout: float = Field(default=2.0, gt=0)
    """Seconds without any event while reply audio is streaming."""
    probe_cooldown: float = Field(default=10.0, gt=0)
    probe_timeout: float = Field(default=2.0, gt=0)
    failure_threshold: int = Field(default=3, ge=1)
    breaker_cooldown: float = Field(default=30.0, gt=0)
    replay_started_turns: bool = False
    replay_seconds: float = Field(default=30.0, gt=0)
    rest_keep_seconds: float = Field(default=1.0, ge=0)
    """On a switch back at rest, replay only this much of the unanswered (quiet) audio."""


def _common_rates(providers: Sequence[S2SProvider]) -> tuple[int, ...]:
    first = providers[0].capabilities.input_sample_rates
    common = [r for r in first if all(r in p.capabilities.input_sample_rates for p in providers)]
    return tuple(common) or first


class FallbackProvider(ProviderWrapper):
    """Ordered providers behind one provider interface.  See the module docstring.

    The wrapper presents the primary's name and capabilities, with one input sample rate:
    the first that every provider accepts (if there is none, the primary's, and audio is
    resampled for the providers that need another).
    """

    def __init__(
        self,
        providers: Sequence[S2SProvider],
        config: S2SConfig | None = None,
        *,
        settings: FallbackSettings | None = None,
        input_sample_rate: int | None = None,
    ) -> None:
        if not providers:
            raise ValueError("FallbackProvider needs at least one provider")
        super().__init__(config or providers[0].config)
        self.providers = list(providers)
        self.settings = settings or FallbackSettings()
        self.replay_cut_reply_under = self.config.replay_cut_reply_under
        s = self.settings
        self.breakers = [
            CircuitBreaker(failure_threshold=s.failure_threshold, cooldown=s.breaker_cooldown)
            for _ in self.providers
        ]
        primary = self.providers[0]
        self.name = primary.name
        rates = _common_rates(self.providers)
        self.input_sample_rate = input_sample_rate or rates[0]
        self.capabilities = dataclasses.replace(
            primary.capabilities, input_sample_rates=(self.input_sample_rate,)
        )
        self.switches = 0

    def __repr__(self) -> str:
        return f"<FallbackProvider {[p.name for p in self.providers]}>"

    @property
    def first_audio_timeout(self) -> float:
        return self.settings.first_audio_timeout or self.config.latency_budget

    async def open_at(
        self, index: int, ctx: ConversationContext, timeout: float
    ) -> StreamingSession:
        """Open a session of provider ``index`` within ``timeout``, updating its breaker."""
        provider = self.providers[index]
        try:
            with anyio.fail_after(timeout):
                session = await provider.start_streaming(ctx)
        except TimeoutError:
            self.breakers[index].record_failure()
            raise S2SError(
                "connect", ErrorCode.TIMEOUT, f"{provider.name}: no session in {timeout:g} s"
            ) from None
        except S2SError:
            self.breakers[index].record_failure()
            raise
        self.breakers[index].record_success()
        return session

    def _unavailable(self, errors: list[S2SError], op: str) -> S2SError:
        if not errors:
            return S2SError(
                op,
                ErrorCode.MODEL_NOT_AVAILABLE,
                "every provider is failing (circuit open): "
                + ", ".join(p.name for p in self.providers),
            )
        last = errors[-1]
        summary = "; ".join(str(e) for e in errors)
        return S2SError(op, last.code, f"all providers failed: {summary}", cause=last)

    async def start_streaming(self, ctx: ConversationContext | None = None) -> StreamingSession:
        ctx = ctx or new_conversation_context()
        errors: list[S2SError] = []
        for index, breaker in enumerate(self.breakers):
            if not breaker.allow():
                continue
            try:
                inner = await self.open_at(index, ctx, self.config.timeout)
            except S2SError as exc:
                if exc.code in CALLER_ERRORS:
                    raise
                errors.append(exc)
                log.warning("%s unavailable (%s); trying the next", self.providers[index].name, exc)
                continue
            session = FallbackSession(self, ctx, index)
            rates = self.providers[index].capabilities.input_sample_rates
            await session._install(inner, rates, reason="open")
            if index > 0:  # say why the conversation does not start on the primary
                reason = "error" if errors else "circuit_open"
                last = errors[-1] if errors else None
                session._emit(
                    ProviderSwitched(
                        self.providers[0].name, self.providers[index].name, reason, last
                    )
                )
            return session
        raise self._unavailable(errors, "start_streaming")

    async def process(
        self, audio_input: AudioInput, ctx: ConversationContext | None = None
    ) -> AudioOutput:
        """One-shot: the first provider (whose circuit allows it) that answers."""
        errors: list[S2SError] = []
        for provider, breaker in zip(self.providers, self.breakers, strict=True):
            if not breaker.allow():
                continue
            try:
                output = await provider.process(audio_input, ctx)
            except S2SError as exc:
                if exc.code in CALLER_ERRORS:
                    raise
                breaker.record_failure()
                errors.append(exc)
                continue
            breaker.record_success()
            return output
        raise self._unavailable(errors, "process")


class FallbackSession(ResilientSession):
    """A live session that can move to another of the provider's providers."""

    def __init__(self, provider: FallbackProvider, ctx: ConversationContext, index: int) -> None:
        s = provider.settings
        super().__init__(
            provider.name,
            ctx,
            input_sample_rate=provider.input_sample_rate,
            replay_seconds=s.replay_seconds,
            replay_started_turns=s.replay_started_turns,
            replay_cut_reply_under=provider.replay_cut_reply_under,
        )
        self.provider = provider
        self.index = index
        self._latency_waived = False
        self._next_probe_at = anyio.current_time() + s.probe_cooldown

    @property
    def current(self) -> S2SProvider:
        """The provider serving the conversation now."""
        return self.provider.providers[self.index]

    # -- deadlines ------------------------------------------------------------------------

    def _latency_deadline(self) -> float | None:
        if (
            not self.provider.settings.switch_on_latency
            or self._latency_waived
            or not self.awaiting_first_audio
            or self._turn_end_at is None
        ):
            return None
        return self._turn_end_at + self.provider.first_audio_timeout

    def _stall_deadline(self) -> float | None:
        if not self._reply_playing:
            return None
        return self._last_event_at + self.provider.settings.stall_timeout

    def _probe_deadline(self) -> float | None:
        if self.index == 0 or not self.at_rest or self._broken is not None:
            return None
        return self._next_probe_at

    def _read_deadline(self) -> float:
        deadlines = [
            d
            for d in (self._latency_deadline(), self._stall_deadline(), self._probe_deadline())
            if d is not None
        ]
        return min(deadlines, default=super()._read_deadline())

    async def _on_deadline(self) -> list[SessionEvent]:
        now = anyio.current_time()
        stall = self._stall_deadline()
        if stall is not None and now >= stall:
            error = S2SError(
                "receive",
                ErrorCode.STREAM_TIMEOUT,
                f"{self.current.name}: reply stalled for {self.provider.settings.stall_timeout:g} s",
            )
            return await self._recover(error, "stall")
        latency = self._latency_deadline()
        if latency is not None and now >= latency:
            return await self._switch_for_latency()
        probe = self._probe_deadline()
        if probe is not None and now >= probe:
            return await self._probe()
        return []

    def _on_healthy(self, event: SessionEvent) -> None:
        if self._turn_end_at is None:
            self._latency_waived = False  # a new turn gets a new latency check

    # -- switching --------------------------------------------------------------------------

    def _candidates(self) -> list[int]:
        n = len(self.provider.providers)
        return [(self.index + k) % n for k in range(1, n)]

    async def _switch_to(
        self, index: int, reason: str, error: S2SError | None, *, rest_keep: int | None = None
    ) -> list[SessionEvent]:
        """Open provider ``index`` and install it; S2SError if it cannot serve.

        ``rest_keep`` (bytes) trims the replay to the most recent quiet audio when
        switching at rest, where everything older was already judged silence.
        """
        p = self.provider
        timeout = p.settings.probe_timeout if reason == "recovered" else p.config.timeout
        new = await p.open_at(index, self.context, timeout)
        if rest_keep is not None:
            self.journal.acknowledge(self.journal.total - rest_keep)
        rates = p.providers[index].capabilities.input_sample_rates
        try:
            events, replayed = await self._install(new, rates, reason=f"switched: {reason}")
        except S2SError:
            p.breakers[index].record_failure()
            raise
        old = self.current.name
        self.index = index
        self._latency_waived = False
        self._next_probe_at = anyio.current_time() + p.settings.probe_cooldown
        p.switches += 1
        log.warning("switched from %s to %s (%s)", old, p.providers[index].name, reason)
        events.append(ProviderSwitched(old, p.providers[index].name, reason, error, replayed))
        return events

    async def _recover(self, error: S2SError, reason: str) -> list[SessionEvent]:
        p = self.provider
        p.breakers[self.index].record_failure()
        if error.code in CALLER_ERRORS:
            raise error
        errors = [error]
        for index in self._candidates():
            if not p.breakers[index].allow():
                continue
            try:
                return await self._switch_to(index, reason, error)
            except S2SError as exc:
                errors.append(exc)
        inner, self._inner = self._inner, None
        if inner is not None:
            await self._discard(inner)
        raise p._unavailable(errors, error.op)

    async def _switch_for_latency(self) -> list[SessionEvent]:
        p = self.provider
        slow = self.index
        for index in self._candidates():
            if not p.breakers[index].allow():
                continue
            try:
                events = await self._switch_to(index, "latency", None)
            except S2SError as exc:
                log.info("no faster provider than %s: %s", p.providers[slow].name, exc)
                continue
            p.breakers[slow].record_failure()  # too slow counts against it
            return events
        self._latency_waived = True  # nothing better: keep waiting for the slow one
        return []

    async def _probe(self) -> list[SessionEvent]:
        p = self.provider
        keep = int(p.settings.rest_keep_seconds * self.input_sample_rate * 2)
        for index in range(self.index):
            if not p.breakers[index].allow():
                continue
            try:
                return await self._switch_to(index, "recovered", None, rest_keep=keep)
            except S2SError as exc:
                log.info("%s still unavailable: %s", p.providers[index].name, exc)
        self._next_probe_at = anyio.current_time() + p.settings.probe_cooldown
        return []
