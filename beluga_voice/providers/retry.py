"""Silent retry: a provider wrapper that reconnects instead of failing.

:class:`RetryingProvider` wraps any provider.  Opening a session, a one-shot
:meth:`~RetryingProvider.process` call, and a live session that drops are all retried
with exponential backoff and full jitter (``config.max_retries``, ``config.retry_delay``,
``config.retry_backoff``), but only for errors whose code says trying again can work
(:attr:`S2SError.is_retryable`): a wrong API key fails at once.

This layer is the one owner of reconnects (docs/resilience.md): provider sessions do not
reconnect by themselves, so one backoff and one attempt count apply.  A dropped live
session is reopened with the same :class:`ConversationContext` (whose history the
session's owner, e.g. the S2S processor, keeps up to date), so the new connection is
seeded with what was said, or, where the protocol offers it, *resumed* from the dropped
session's :class:`~.base.Resumption` (a Gemini handle: the server restores its own state).
The user audio the provider had not answered yet is replayed from the journal (see
:mod:`.resilient_session`), once: a resumed session gets only what its handle lacks.  The
conversation continues; the user hears at most a pause.  Each reconnect is reported as a
:class:`~beluga_voice.providers.events.SessionReconnected` event, which the S2S processor
may ignore and metrics count.  When the retries run out the session yields a single
fatal ``SessionError`` naming the provider, the attempts and the last cause.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from ..conversation import ConversationContext, new_conversation_context
from .base import ProviderWrapper, Resumption, S2SProvider, StreamingS2SProvider, StreamingSession
from .config import S2SConfig
from .errors import S2SError
from .events import ResponseDone, SessionEvent, SessionReconnected
from .resilient_session import ResilientSession
from .types import AudioInput, AudioOutput

__all__ = ["Backoff", "RetryingProvider", "RetryingSession"]

log = logging.getLogger("beluga_voice.resilience")

T = TypeVar("T")


class Backoff:
    """Exponential backoff with full jitter.

    Attempt ``n`` (1-based) waits a uniform random time in ``[0, min(cap, delay *
    backoff ** (n - 1))]``.  Full jitter spreads the reconnects of many sessions that lost
    the same server at the same instant, so that they do not return as one wave.
    """

    def __init__(
        self,
        delay: float,
        backoff: float,
        *,
        cap: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        self.delay = delay
        self.backoff = backoff
        self.cap = cap
        self.rng = rng or random.Random()

    @classmethod
    def from_config(cls, config: S2SConfig, rng: random.Random | None = None) -> Backoff:
        return cls(config.retry_delay, config.retry_backoff, rng=rng)

    def ceiling(self, attempt: int) -> float:
        """The longest wait before attempt ``attempt``."""
        return min(self.cap, self.delay * self.backoff ** max(0, attempt - 1))

    def __call__(self, attempt: int) -> float:
        return self.rng.uniform(0.0, self.ceiling(attempt))


def _gave_up(provider: str, retries: int, error: S2SError) -> S2SError:
    """The one error a caller sees when retrying did not help."""
    return S2SError(
        error.op,
        error.code,
        f"{provider}: gave up after {retries} retries: {error.message or error.code.value}",
        cause=error,
        details={**error.details, "retries": retries, "provider": provider},
    )


async def retry_call(
    call: Callable[[], Awaitable[T]],
    *,
    provider: str,
    max_retries: int,
    backoff: Backoff,
    timeout: float,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> T:
    """Run ``call`` until it succeeds, retrying retryable S2S errors with backoff.

    Each attempt is bounded by ``timeout`` seconds (a hung connect counts as a retryable
    ``timeout`` error).  Non-retryable errors propagate at once; the last retryable one is
    re-raised, annotated with the attempt count, when the retries are used up.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            with anyio.fail_after(timeout):
                return await call()
        except TimeoutError as exc:
            error = S2SError("connect", "timeout", f"{provider}: no answer in {timeout:g} s")
            error.__cause__ = exc
        except S2SError as exc:
            if not exc.is_retryable:
                raise
            error = exc
        if attempt > max_retries:
            raise _gave_up(provider, attempt - 1, error) from error
        wait = backoff(attempt)
        log.info(
            "%s: %s; retry %d/%d in %.2f s", provider, error.code.value, attempt, max_retries, wait
        )
        await sleep(wait)


class RetryingProvider(ProviderWrapper):
    """Wraps ``inner`` so that transient failures are retried silently.  See the module doc.

    ``input_sample_rate`` is the rate of the audio the caller will send (default: the
    inner provider's preferred rate); it maps the provider's speech timestamps to replay
    offsets.  ``rng`` and ``sleep`` exist for deterministic tests.
    """

    def __init__(
        self,
        inner: S2SProvider,
        config: S2SConfig | None = None,
        *,
        input_sample_rate: int | None = None,
        replay_seconds: float = 30.0,
        replay_started_turns: bool = False,
        stall_timeout: float | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        config = config or inner.config
        super().__init__(config)
        self.inner = inner
        self.name = inner.name
        self.input_sample_rate = input_sample_rate or inner.capabilities.input_sample_rates[0]
        # One declared input rate: replay offsets are computed at this rate, so callers
        # (the S2S processor) must send exactly it.
        self.capabilities = dataclasses.replace(
            inner.capabilities, input_sample_rates=(self.input_sample_rate,)
        )
        self.replay_seconds = replay_seconds
        self.replay_started_turns = replay_started_turns
        self.replay_cut_reply_under = config.replay_cut_reply_under
        self.stall_timeout = stall_timeout
        self.backoff = Backoff.from_config(config, rng)
        self.sleep = sleep

    def __repr__(self) -> str:
        return f"<RetryingProvider {self.inner!r} max_retries={self.config.max_retries}>"

    async def _retry(self, call: Callable[[], Awaitable[T]]) -> T:
        return await retry_call(
            call,
            provider=self.name,
            max_retries=self.config.max_retries,
            backoff=self.backoff,
            timeout=self.config.timeout,
            sleep=self.sleep,
        )

    async def process(
        self, audio_input: AudioInput, ctx: ConversationContext | None = None
    ) -> AudioOutput:
        return await self._retry(lambda: self.inner.process(audio_input, ctx))

    async def open_inner(
        self, ctx: ConversationContext, resume: Resumption | None = None
    ) -> StreamingSession:
        """One attempt at opening a session of the wrapped provider, resuming ``resume``
        where the provider's protocol can (the session's ``resumed`` says if it did)."""
        if resume is not None and isinstance(self.inner, StreamingS2SProvider):
            return await self.inner.resume_streaming(ctx, resume)
        return await self.inner.start_streaming(ctx)

    async def start_streaming(self, ctx: ConversationContext | None = None) -> StreamingSession:
        ctx = ctx or new_conversation_context()
        session = RetryingSession(self, ctx)
        inner = await self._retry(lambda: self.open_inner(ctx))
        await session._install(inner, self.inner.capabilities.input_sample_rates, reason="open")
        return session


class RetryingSession(ResilientSession):
    """A live session that reopens its provider session when it drops."""

    def __init__(self, provider: RetryingProvider, ctx: ConversationContext) -> None:
        super().__init__(
            provider.name,
            ctx,
            input_sample_rate=provider.input_sample_rate,
            replay_seconds=provider.replay_seconds,
            replay_started_turns=provider.replay_started_turns,
            replay_cut_reply_under=provider.replay_cut_reply_under,
        )
        self.provider = provider
        self.attempts = 0
        """Consecutive failed attempts; reset by a completed response."""
        self.reconnects = 0
        self._resume: Resumption | None = None
        """What the newest failed session left to resume from, until a reconnect works."""
        self._resume_base = 0

    def _held_by(self, new: StreamingSession) -> int | None:
        """The journal offset up to which ``new`` (a resumed session) already holds the
        user's audio; None for a fresh session, which needs every unanswered byte."""
        resumed = new.resumed
        if resumed is None:
            return None
        return self._resume_base + int(resumed.audio_ms * self._bytes_per_ms)

    def _read_deadline(self) -> float:
        stall = self.provider.stall_timeout
        if stall is None or not (self._reply_playing or self.awaiting_first_audio):
            return super()._read_deadline()
        since = self._last_event_at if self._reply_playing else (self._turn_end_at or 0.0)
        return since + stall

    async def _on_deadline(self) -> list[SessionEvent]:
        error = S2SError(
            "receive",
            "stream_timeout",
            f"{self.provider_name}: no event for {self.provider.stall_timeout:g} s",
        )
        return await self._recover(error, "stall")

    def _on_healthy(self, event: SessionEvent) -> None:
        if isinstance(event, ResponseDone) and event.status == "completed":
            self.attempts = 0

    async def _recover(self, error: S2SError, reason: str) -> list[SessionEvent]:
        p = self.provider
        while True:
            old, self._inner = self._inner, None
            if old is not None:
                resume = old.resumption()
                if resume is not None:  # offsets in the journal, where the old one began
                    self._resume, self._resume_base = resume, self._inner_base
                await self._discard(old)
            if not error.is_retryable:
                raise error
            self.attempts += 1
            if self.attempts > p.config.max_retries:
                raise _gave_up(self.provider_name, self.attempts - 1, error) from error
            wait = p.backoff(self.attempts)
            log.warning(
                "%s: session lost (%s); reconnect %d/%d in %.2f s",
                self.provider_name,
                error.code.value,
                self.attempts,
                p.config.max_retries,
                wait,
            )
            await p.sleep(wait)
            try:
                with anyio.fail_after(p.config.timeout):
                    new = await p.open_inner(self.context, self._resume)
                holds = self._held_by(new)
                events, replayed = await self._install(
                    new, p.inner.capabilities.input_sample_rates, reason="reconnect", holds=holds
                )
            except TimeoutError:
                error = S2SError("connect", "timeout", f"{self.provider_name}: connect timed out")
                continue
            except S2SError as exc:
                error = exc
                continue
            self.reconnects += 1
            self._resume = None
            events.append(SessionReconnected(self.provider_name, self.attempts, error, replayed))
            return events
