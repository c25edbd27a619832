"""The S2S case of the wrapping processors: one mechanism, the provider wrappers.

An S2S processor's unit of work is its live session, and the provider layer already
knows what a frame-level journal cannot: which user audio the provider *answered* (its
speech timestamps, its replies), how to seed a new session with the conversation, how to
resample for a fallback that takes another rate.  So ``Retry(S2SProcessor(p))`` and
``Fallback([S2SProcessor(a), S2SProcessor(b)])`` become one S2S processor over
:class:`~beluga_voice.providers.retry.RetryingProvider` /
:class:`~beluga_voice.providers.fallback.FallbackProvider`, built with the wrapper's
policy.  The layers the config already applied are taken apart first, so that nothing
retries twice (a ``new_provider`` provider carries retry and instrumentation).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from ...pipeline.processor import FrameProcessor
from ...providers.base import S2SProvider
from ...providers.fallback import FallbackProvider, FallbackSettings
from ...providers.retry import RetryingProvider
from .policy import ResiliencePolicy

__all__ = ["s2s_with_fallback", "s2s_with_retry"]


def _peel(provider: S2SProvider) -> tuple[S2SProvider, bool]:
    """``provider`` without its retry and instrumentation layers; and whether it was
    instrumented (the new stack is instrumented again, once, outside)."""
    from ...providers.instrumented import InstrumentedProvider

    instrumented = False
    while True:
        if isinstance(provider, InstrumentedProvider):
            instrumented, provider = True, provider.inner
        elif isinstance(provider, RetryingProvider):
            provider = provider.inner
        else:
            return provider, instrumented


def _instrument(provider: S2SProvider, again: bool) -> S2SProvider:
    if not again:
        return provider
    from ...providers.instrumented import InstrumentedProvider

    return InstrumentedProvider(provider, provider.config)


def _retrying(
    provider: S2SProvider, policy: ResiliencePolicy, rng: random.Random | None = None
) -> S2SProvider:
    return RetryingProvider(
        provider,
        policy.config_for(provider.config),
        stall_timeout=policy.stall_timeout,
        rng=rng,
    )


def _all_s2s(processors: Sequence[FrameProcessor]) -> bool:
    from ..s2s import S2SProcessor

    return all(type(p) is S2SProcessor for p in processors)


def s2s_with_retry(
    processor: FrameProcessor, policy: ResiliencePolicy, *, rng: random.Random | None = None
) -> FrameProcessor | None:
    """The S2S processor over a retrying provider, or None if ``processor`` is not one."""
    from ..s2s import S2SProcessor

    if not _all_s2s([processor]):
        return None
    assert isinstance(processor, S2SProcessor)
    bare, instrumented = _peel(processor.provider)
    if policy.max_retries == 0:
        return processor.with_provider(_instrument(bare, instrumented))
    return processor.with_provider(_instrument(_retrying(bare, policy, rng), instrumented))


def s2s_with_fallback(
    processors: Sequence[FrameProcessor], policy: ResiliencePolicy
) -> FrameProcessor | None:
    """One S2S processor over a fallback provider, or None unless all are S2S processors.

    Each provider keeps (or gets) the retry layer of the policy, inside the fallback,
    as :func:`~beluga_voice.providers.wrap.wrap_provider` stacks them: a transient drop
    heals on the same provider, only what retrying cannot fix moves the conversation.
    """
    from ..s2s import S2SProcessor

    if len(processors) < 2 or not _all_s2s(processors):
        return None
    chain: list[S2SProvider] = []
    instrumented = False
    for proc in processors:
        assert isinstance(proc, S2SProcessor)
        bare, inst = _peel(proc.provider)
        instrumented = instrumented or inst
        chain.append(_retrying(bare, policy) if policy.max_retries > 0 else bare)
    settings = FallbackSettings(
        first_audio_timeout=policy.first_reply_timeout,
        switch_on_latency=policy.first_reply_timeout is not None,
        stall_timeout=policy.stall_timeout or FallbackSettings().stall_timeout,
        probe_cooldown=policy.probe_cooldown,
        failure_threshold=policy.failure_threshold,
        breaker_cooldown=policy.breaker_cooldown,
    )
    primary = processors[0]
    assert isinstance(primary, S2SProcessor)
    config = policy.config_for(chain[0].config)
    fallback = FallbackProvider(chain, config, settings=settings)
    return primary.with_provider(_instrument(fallback, instrumented))
