"""Issue 16 point 3: ``new_provider`` returns what the config describes.

Retry, fallback, metrics and tracing are applied unless the caller opts out
(``wrap=False`` / ``bare_provider``), the session limit holds across every provider made
from one config object, and nothing is wrapped twice (``VoiceSession``, ``wrap_provider``).
"""

from __future__ import annotations

import anyio
import pytest

from beluga_voice.providers import ErrorCode, S2SConfig, S2SError, bare_provider, new_provider
from beluga_voice.providers.fallback import FallbackProvider
from beluga_voice.providers.instrumented import InstrumentedProvider
from beluga_voice.providers.mock import AdvancedMockS2SProvider
from beluga_voice.providers.retry import RetryingProvider
from beluga_voice.providers.wrap import wrap_provider
from beluga_voice.session import VoiceSession

pytestmark = pytest.mark.anyio


def _layers(provider: object) -> list[type]:
    out: list[type] = []
    while True:
        out.append(type(provider))
        if isinstance(provider, FallbackProvider):
            out.extend(type(p) for p in provider.providers)
            return out
        inner = getattr(provider, "inner", None)
        if inner is None:
            return out
        provider = inner


def test_new_provider_applies_retry_fallback_and_instrumentation() -> None:
    config = S2SConfig(provider="mock", fallback_providers=["local"], max_retries=2)
    provider = new_provider("mock", config)
    assert _layers(provider) == [
        InstrumentedProvider,
        FallbackProvider,
        RetryingProvider,
        RetryingProvider,
    ]
    assert isinstance(provider, InstrumentedProvider)
    fallback = provider.inner
    assert isinstance(fallback, FallbackProvider)
    assert [p.name for p in fallback.providers] == ["mock", "local"]


def test_each_layer_follows_its_setting() -> None:
    plain = S2SConfig(provider="mock", max_retries=0, enable_metrics=False, enable_tracing=False)
    assert isinstance(new_provider("mock", plain), AdvancedMockS2SProvider)
    retry_only = plain.model_copy(update={"max_retries": 1})
    assert _layers(new_provider("mock", retry_only)) == [RetryingProvider, AdvancedMockS2SProvider]
    metrics_only = plain.model_copy(update={"enable_metrics": True})
    assert _layers(new_provider("mock", metrics_only)) == [
        InstrumentedProvider,
        AdvancedMockS2SProvider,
    ]


def test_explicit_opt_out_for_wrapping_by_hand() -> None:
    config = S2SConfig(provider="mock", fallback_providers=["local"])
    assert isinstance(new_provider("mock", config, wrap=False), AdvancedMockS2SProvider)
    bare = bare_provider("mock", config)
    assert isinstance(bare, AdvancedMockS2SProvider)
    # Wrapping by hand gives the same stack as new_provider, and wrapping twice is a no-op.
    wrapped = wrap_provider(bare, config)
    assert _layers(wrapped) == _layers(new_provider("mock", config))
    assert wrap_provider(wrapped, config) is wrapped


def test_voice_session_does_not_wrap_twice() -> None:
    provider = new_provider("mock", S2SConfig(provider="mock"))
    session = VoiceSession(s2s_provider=provider)  # type: ignore[arg-type]
    assert session.provider is provider
    bare = bare_provider("mock", S2SConfig(provider="mock"))
    assert _layers(VoiceSession(s2s_provider=bare).provider)[0] is InstrumentedProvider  # type: ignore[arg-type]


async def test_session_limit_holds_across_providers_of_one_config() -> None:
    config = S2SConfig(
        provider="mock",
        max_concurrent_sessions=2,
        timeout=0.2,
        max_retries=0,
        enable_metrics=False,
        enable_tracing=False,
    )
    first = new_provider("mock", config)
    second = new_provider("mock", config)
    assert first is not second
    with anyio.fail_after(5):
        a = await first.start_streaming()  # type: ignore[attr-defined]
        b = await second.start_streaming()  # type: ignore[attr-defined]
        with pytest.raises(S2SError) as info:
            await second.start_streaming()  # type: ignore[attr-defined]
        assert info.value.code is ErrorCode.RATE_LIMIT
        # A config with another limit has its own slots.
        other = new_provider("mock", config.model_copy(update={"max_concurrent_sessions": 1}))
        async with other.stream() as session:  # type: ignore[attr-defined]
            assert not session.closed
        await a.close()
        c = await second.start_streaming()  # type: ignore[attr-defined]  # a slot came back
        await b.close()
        await c.close()


async def test_fallbacks_share_the_limit_of_their_config() -> None:
    config = S2SConfig(
        provider="mock",
        fallback_providers=["local"],
        max_concurrent_sessions=1,
        timeout=0.2,
        max_retries=0,
        enable_metrics=False,
        enable_tracing=False,
    )
    provider = new_provider("mock", config)
    assert isinstance(provider, FallbackProvider)
    limiters = {id(p.limiter) for p in provider.providers}  # type: ignore[attr-defined]
    assert limiters == {id(config.shared_limiter())}


def test_one_owner_of_reconnects() -> None:
    """The retry layer is the one owner of reconnects: new_provider puts it around the
    shells, which have no reconnect settings of their own (tests/test_one_resilience_policy
    shows the behaviour at the fake servers)."""
    from beluga_voice.providers.retry import RetryingProvider

    config = S2SConfig(api_key="test-key", enable_metrics=False, enable_tracing=False)
    for name in ("openai_realtime", "gemini"):
        provider = new_provider(name, config)
        assert isinstance(provider, RetryingProvider)
        settings = provider.inner.settings  # type: ignore[attr-defined]
        assert not {"max_reconnects", "reconnect_delay"} & set(type(settings).model_fields)


def test_one_provider_protocol() -> None:
    """Issue 15 point 2: providers and wrappers implement one protocol; wrappers carry no
    session machinery of their own (no limiter, no ``_open_session`` stub)."""
    from beluga_voice.providers.base import ProviderWrapper, S2SProvider, StreamingS2SProvider

    config = S2SConfig(provider="mock", fallback_providers=["local"])
    bare = bare_provider("mock", config)
    wrapped = new_provider("mock", config)
    layers: list[object] = [wrapped]
    while layers:
        layer = layers.pop()
        assert isinstance(layer, S2SProvider)
        if isinstance(layer, ProviderWrapper):
            assert not hasattr(layer, "limiter") and not hasattr(layer, "_open_session")
            layers.extend(getattr(layer, "providers", []))
            inner = getattr(layer, "inner", None)
            if inner is not None:
                layers.append(inner)
        else:
            assert isinstance(layer, StreamingS2SProvider)
    assert isinstance(bare, S2SProvider) and not isinstance(object(), S2SProvider)
