"""The global provider registry.

Built-in providers are imported lazily (importing one registers it), and third-party
providers are discovered through the ``beluga_voice.providers`` entry-point group: an
entry point names either a :class:`ProviderSpec` or a provider class.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from pydantic import BaseModel, ValidationError

from .base import S2SProvider
from .config import ConfigOption, S2SConfig
from .errors import ErrorCode, S2SError

__all__ = [
    "ENTRY_POINT_GROUP",
    "ProviderSpec",
    "bare_provider",
    "get_provider_spec",
    "list_providers",
    "new_provider",
    "register_provider",
]

ENTRY_POINT_GROUP = "beluga_voice.providers"

# name -> module that registers it when imported.
_BUILTIN_MODULES: dict[str, str] = {
    "mock": "beluga_voice.providers.mock",
    "local": "beluga_voice.providers.local",
    "openai_realtime": "beluga_voice.providers.openai_realtime",
    "grok": "beluga_voice.providers.openai_realtime",
    "gemini": "beluga_voice.providers.gemini_live",
    "openai_live": "beluga_voice.providers.openai_live",
    "amazon_nova": "beluga_voice.providers.amazon_nova.provider",
    "replay": "beluga_voice.providers.recording.playback",
}

ProviderFactory = Callable[[S2SConfig, Any], S2SProvider]


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """How to build a provider, and what it needs.

    ``factory(config, settings)`` receives the validated ``provider_specific`` settings
    (an instance of ``settings``, or ``None`` when the provider declares no model).
    ``api_key_env`` lists the environment variables searched when ``config.api_key`` is
    empty; ``requires_api_key=False`` for providers that need none or find credentials
    themselves (the AWS chain).
    """

    name: str
    factory: ProviderFactory
    settings: type[BaseModel] | None = None
    api_key_env: tuple[str, ...] = ()
    requires_api_key: bool = True
    description: str = ""
    credentials: str = ""


_registry: dict[str, ProviderSpec] = {}
_discovered = False


def register_provider(
    name: str,
    factory: ProviderFactory,
    *,
    settings: type[BaseModel] | None = None,
    api_key_env: tuple[str, ...] = (),
    requires_api_key: bool = True,
    description: str = "",
    credentials: str = "",
) -> ProviderSpec:
    """Register (or replace) a provider under ``name``."""
    spec = ProviderSpec(
        name=name,
        factory=factory,
        settings=settings,
        api_key_env=api_key_env,
        requires_api_key=requires_api_key,
        description=description,
        credentials=credentials,
    )
    _registry[name] = spec
    return spec


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    _discovered = True
    for name, module in _BUILTIN_MODULES.items():
        if name not in _registry:
            importlib.import_module(module)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _registry:
            continue
        obj = ep.load()
        if isinstance(obj, ProviderSpec):
            _registry[ep.name] = obj
        else:
            register_provider(
                ep.name,
                obj,
                settings=getattr(obj, "settings_model", None),
                api_key_env=tuple(getattr(obj, "api_key_env", ())),
                requires_api_key=bool(getattr(obj, "requires_api_key", True)),
                description=(obj.__doc__ or "").strip().split("\n")[0],
            )


def list_providers() -> list[str]:
    """Names of every known provider, sorted.

    Read from the built-in table, the registrations made so far and the entry points'
    names, without importing a provider module or loading an entry point: validating a
    config that names fallbacks must stay cheap.  Building a provider
    (:func:`new_provider`) imports just the one it needs.
    """
    names = set(_registry) | set(_BUILTIN_MODULES)
    names.update(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    return sorted(names)


def get_provider_spec(name: str) -> ProviderSpec:
    _discover()
    try:
        return _registry[name]
    except KeyError:
        raise S2SError(
            "new_provider",
            ErrorCode.UNSUPPORTED_PROVIDER,
            f"unknown provider {name!r}; known: {', '.join(sorted(_registry))}",
        ) from None


def _format_validation(prefix: str, exc: ValidationError, allowed: list[str] | None = None) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "config"
        if err["type"] == "extra_forbidden" and allowed is not None:
            parts.append(f"{prefix}{loc}: unknown key; allowed: {', '.join(allowed)}")
        else:
            parts.append(f"{prefix}{loc}: {err['msg']}")
    return "; ".join(parts)


def validate_settings(spec: ProviderSpec, provider_specific: dict[str, Any]) -> Any:
    """Validate ``provider_specific`` with the provider's model (S2SError on failure)."""
    if spec.settings is None:
        if provider_specific:
            raise S2SError(
                "new_provider",
                ErrorCode.INVALID_CONFIG,
                f"provider_specific: {spec.name} takes no provider-specific settings",
            )
        return None
    try:
        return spec.settings.model_validate(provider_specific)
    except ValidationError as exc:
        allowed = sorted(spec.settings.model_fields)
        raise S2SError(
            "new_provider",
            ErrorCode.INVALID_CONFIG,
            _format_validation("provider_specific.", exc, allowed),
        ) from None


def new_provider(
    name: str | None = None,
    config: S2SConfig | None = None,
    *options: ConfigOption,
    wrap: bool = True,
) -> S2SProvider:
    """Build a provider by name with ``config`` (default: :func:`default_config`), as the
    config describes it: retry, fallback, metrics and tracing applied
    (:func:`~beluga_voice.providers.wrap.wrap_provider`), and the session limit shared.

    ``wrap=False`` (or :func:`bare_provider`) returns the provider alone, for those who
    wrap it by hand.  ``max_concurrent_sessions`` holds across every provider made from
    the same ``config`` object (fallbacks included), not per provider object: they share
    one :class:`~beluga_voice.providers.base.SessionLimiter`.

    Functional options are applied to a copy of ``config``.  Invalid settings raise
    :class:`S2SError` ``invalid_config`` naming the field and the allowed values.
    """
    provider = bare_provider(name, config, *options)
    if not wrap:
        return provider
    from .wrap import wrap_provider

    return wrap_provider(provider, provider.config)


def bare_provider(
    name: str | None = None, config: S2SConfig | None = None, *options: ConfigOption
) -> S2SProvider:
    """The provider alone, without the wrappers its config asks for (see
    :func:`new_provider`); it still shares the config's session limit."""
    config = config or S2SConfig()
    limiter = config.shared_limiter()
    name = name or config.provider
    spec = get_provider_spec(name)
    option_list = list(options)
    if config.provider != name:
        option_list.insert(0, lambda data: data.__setitem__("provider", name))
    try:
        config = config.with_options(*option_list)
    except ValidationError as exc:
        raise S2SError(
            "new_provider", ErrorCode.INVALID_CONFIG, _format_validation("", exc)
        ) from None
    settings = validate_settings(spec, config.provider_specific)
    if spec.requires_api_key and config.api_key is None:
        key = next((os.environ[v] for v in spec.api_key_env if os.environ.get(v)), None)
        if key is None:
            where = " or ".join(spec.api_key_env) or "config.api_key"
            raise S2SError(
                "new_provider",
                ErrorCode.INVALID_CONFIG,
                f"api_key: {name} needs an API key (config.api_key or {where})",
            )
        config = config.with_options(lambda data: data.__setitem__("api_key", key))
    config.share_limiter(limiter)
    provider = spec.factory(config, settings)
    if hasattr(provider, "limiter"):
        provider.limiter = limiter
    return provider
