"""``wrap_provider``: apply fallback, retry and instrumentation as the config says.

The layers, from the outside in::

    InstrumentedProvider          (config.enable_metrics / enable_tracing)
      FallbackProvider            (config.fallback_providers non-empty)
        RetryingProvider(primary)     (config.max_retries > 0)
        RetryingProvider(fallback 1)
        ...

Retry sits inside fallback, so a transient drop is healed silently on the same provider
and only a failure that retrying could not fix (or a slow or stalled provider) moves the
conversation elsewhere.  Instrumentation sits outside, so it measures what the user
experiences and counts the failures the inner layers hid through the events they emit.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .base import S2SProvider
from .config import S2SConfig
from .fallback import FallbackProvider, FallbackSettings
from .retry import RetryingProvider

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Tracer

__all__ = ["fallback_config", "is_wrapped", "set_replay_cut", "wrap_provider"]


def set_replay_cut(provider: S2SProvider, seconds: float) -> None:
    """Set ``replay_cut_reply_under`` on every resilience layer of ``provider`` (for
    sessions opened from now on): how much of a cut reply the user may have heard and
    still get the whole answer again (see :mod:`.replay`)."""
    if seconds < 0:
        raise ValueError(f"replay_cut_reply_under must be >= 0, got {seconds}")
    if isinstance(provider, RetryingProvider | FallbackProvider):
        provider.replay_cut_reply_under = seconds
    for inner in [getattr(provider, "inner", None), *getattr(provider, "providers", ())]:
        if isinstance(inner, S2SProvider):
            set_replay_cut(inner, seconds)


def is_wrapped(provider: S2SProvider) -> bool:
    """Is ``provider`` already one of the config's wrappers (so wrapping it again would
    multiply retries and count every metric twice)?"""
    from .instrumented import InstrumentedProvider

    return isinstance(provider, RetryingProvider | FallbackProvider | InstrumentedProvider)


def fallback_config(config: S2SConfig, name: str) -> S2SConfig:
    """The config a fallback provider is built with: the shared settings, its own identity.

    ``api_key`` and ``provider_specific`` belong to the primary provider, so a fallback
    starts without them and finds its credentials the way it would alone (its
    environment variables, the AWS chain).
    """
    data = config.model_dump()
    data.update(provider=name, fallback_providers=[], api_key=None, provider_specific={})
    return S2SConfig.model_validate(data)


def wrap_provider(
    provider: S2SProvider,
    config: S2SConfig | None = None,
    *,
    fallbacks: Sequence[S2SProvider] | None = None,
    fallback_settings: FallbackSettings | None = None,
    meter_provider: MeterProvider | None = None,
    tracer: Tracer | None = None,
    rng: random.Random | None = None,
) -> S2SProvider:
    """Wrap ``provider`` per ``config`` (default: the provider's own config).

    ``fallbacks`` overrides building the fallbacks from ``config.fallback_providers``
    through the registry (each with :func:`fallback_config`, sharing the config's session
    limit); building them raises the registry's clear ``invalid_config`` error when, say,
    a fallback has no API key.  A provider that is already wrapped (``new_provider``
    wraps by default) is returned as it is: wrapping is done once.
    """
    from .registry import bare_provider

    if is_wrapped(provider):
        return provider
    config = config or provider.config
    if fallbacks is None:
        fallbacks = []
        for name in config.fallback_providers:
            fb_config = fallback_config(config, name)
            fb_config.share_limiter(config.shared_limiter())
            fallbacks.append(bare_provider(name, fb_config))
    chain = [provider, *fallbacks]
    if config.max_retries > 0:
        chain = [RetryingProvider(p, config, rng=rng) for p in chain]
    wrapped: S2SProvider = (
        chain[0] if len(chain) == 1 else FallbackProvider(chain, config, settings=fallback_settings)
    )
    if config.enable_metrics or config.enable_tracing:
        from .instrumented import InstrumentedProvider

        wrapped = InstrumentedProvider(
            wrapped, config, meter_provider=meter_provider, tracer=tracer
        )
    return wrapped
