"""Provider configuration: one validated pydantic model, loadable from env or a file.

The fields are those of the original provider API.  ``api_key`` is a :class:`~pydantic.SecretStr`: it prints as
``**********`` and validation errors never echo input values (``hide_input_in_errors``), so a
key cannot leak through a repr, a log line or an exception.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)

from ..secrets import is_secret_name, register_secret

__all__ = [
    "LATENCY_BUDGETS",
    "ConfigOption",
    "S2SConfig",
    "default_config",
    "with_api_key",
    "with_channels",
    "with_fallback_providers",
    "with_language",
    "with_latency_target",
    "with_max_concurrent_sessions",
    "with_provider_specific",
    "with_reasoning_mode",
    "with_retry",
    "with_sample_rate",
    "with_timeout",
]

LatencyTarget = Literal["low", "medium", "high"]
ReasoningMode = Literal["built-in", "external"]

LATENCY_BUDGETS: dict[str, float] = {"low": 0.2, "medium": 1.0, "high": 2.0}
"""Seconds from the end of user speech to the first reply audio, per latency target."""

# BCP 47 in the shape people write: language, optional script, region or variants.
_BCP47 = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|[0-9]{3}))?(-[A-Za-z0-9]{5,8})*$")

ENV_PREFIX = "BELUGA_"


class S2SConfig(BaseModel):
    """Settings shared by every S2S provider.

    Provider-only settings go in ``provider_specific``; each provider validates them with
    its own model when it is created, rejecting unknown keys with the list of allowed ones.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, hide_input_in_errors=True)

    provider: str = "local"
    api_key: SecretStr | None = None
    sample_rate: Literal[8000, 16000, 24000, 48000] = 24000
    channels: Literal[1, 2] = 1
    language: str = "en-US"
    latency_target: LatencyTarget = "medium"
    reasoning_mode: ReasoningMode = "built-in"
    fallback_providers: list[str] = Field(default_factory=list)
    max_retries: int = Field(default=3, ge=0, le=10)
    retry_delay: float = Field(default=1.0, ge=0.1, le=30.0)
    retry_backoff: float = Field(default=2.0, ge=1.0, le=5.0)
    timeout: float = Field(default=30.0, gt=0.0, le=3600.0)
    max_concurrent_sessions: int = Field(default=100, ge=1, le=1000)
    provider_specific: dict[str, Any] = Field(default_factory=dict)
    enable_tracing: bool = True
    enable_metrics: bool = True
    enable_structured_logging: bool = False
    replay_cut_reply_under: float = Field(default=1.0, ge=0.0, le=60.0)
    """When a failure cuts a reply the user heard less than this many seconds of, the
    replacement session answers the turn again; past it the app gets an explicit
    ``reply_cut`` error instead.  0 never answers again."""

    _limiter: Any = PrivateAttr(default=None)

    def shared_limiter(self) -> Any:
        """The :class:`~beluga_voice.providers.base.SessionLimiter` of every provider
        made from this config object (made on first use).  Copies made by
        :meth:`with_options` get it through :meth:`share_limiter`; a copy with another
        ``max_concurrent_sessions`` or ``timeout`` gets its own."""
        limiter = self._limiter
        if (
            limiter is None
            or limiter.limit != self.max_concurrent_sessions
            or limiter.timeout != self.timeout
        ):
            from .base import SessionLimiter

            self._limiter = SessionLimiter(self.max_concurrent_sessions, self.timeout)
        return self._limiter

    def share_limiter(self, limiter: Any) -> None:
        self._limiter = limiter

    @field_validator("language")
    @classmethod
    def _bcp47(cls, value: str) -> str:
        if not _BCP47.match(value):
            raise ValueError("language must be a BCP 47 tag such as 'en-US' or 'pt-BR'")
        return value

    @field_validator("api_key")
    @classmethod
    def _remember_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            register_secret(value.get_secret_value())
        return value

    @field_validator("provider_specific")
    @classmethod
    def _remember_provider_secrets(cls, value: dict[str, Any]) -> dict[str, Any]:
        # A provider's own credentials (aws_secret_access_key, ...) are as secret as
        # api_key: redacted from logs from the moment they are configured.
        for name, setting in value.items():
            if is_secret_name(name):
                register_secret(_secret_text(setting))
        return value

    def __setstate__(self, state: Any) -> None:
        # Unpickling (a spawned worker process receiving its config) runs no validator:
        # register the secrets again, in this process's redactor.
        super().__setstate__(state)
        self._remember_secret(self.api_key)
        self._remember_provider_secrets(self.provider_specific)

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            if name == "provider_specific" and value:
                value = {k: "**********" if is_secret_name(k) else v for k, v in value.items()}
            yield name, value

    @model_validator(mode="after")
    def _check_fallbacks(self) -> S2SConfig:
        if not self.fallback_providers:
            return self
        from .registry import list_providers

        known = list_providers()
        seen: set[str] = set()
        for name in self.fallback_providers:
            if name not in known:
                raise ValueError(
                    f"fallback_providers: unknown provider {name!r}; known: {', '.join(known)}"
                )
            if name == self.provider:
                raise ValueError(f"fallback_providers: {name!r} is the primary provider")
            if name in seen:
                raise ValueError(f"fallback_providers: {name!r} is listed twice")
            seen.add(name)
        return self

    @property
    def latency_budget(self) -> float:
        """Seconds allowed from end of user speech to first reply audio."""
        return LATENCY_BUDGETS[self.latency_target]

    def secret(self) -> str | None:
        """The API key in clear, for the one place that must send it."""
        return self.api_key.get_secret_value() if self.api_key is not None else None

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, prefix: str = ENV_PREFIX
    ) -> S2SConfig:
        """Read ``BELUGA_PROVIDER``, ``BELUGA_SAMPLE_RATE``... (lists comma separated,
        ``BELUGA_PROVIDER_SPECIFIC`` as JSON)."""
        environ = os.environ if environ is None else environ
        data: dict[str, Any] = {}
        for name in cls.model_fields:
            raw = environ.get(prefix + name.upper())
            if raw is None:
                continue
            if name == "fallback_providers":
                data[name] = [p.strip() for p in raw.split(",") if p.strip()]
            elif name == "provider_specific":
                data[name] = json.loads(raw)
            elif raw.isdigit():  # Literal[8000, ...] fields take ints, not digit strings
                data[name] = int(raw)
            else:
                data[name] = raw
        return cls.model_validate(data)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> S2SConfig:
        """Load a TOML or JSON file.  A TOML file may keep its settings under ``[s2s]``."""
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
        if isinstance(data, dict) and isinstance(data.get("s2s"), dict):
            data = data["s2s"]
        return cls.model_validate(data)

    def with_options(self, *options: ConfigOption) -> S2SConfig:
        """A copy with functional options applied, validated as a whole."""
        if not options:
            return self
        data = self.model_dump()
        for option in options:
            option(data)
        return type(self).model_validate(data)


ConfigOption = Callable[[dict[str, Any]], None]


def default_config() -> S2SConfig:
    return S2SConfig()


def _setter(field: str, value: Any) -> ConfigOption:
    def apply(data: dict[str, Any]) -> None:
        data[field] = value

    return apply


def with_sample_rate(rate: int) -> ConfigOption:
    return _setter("sample_rate", rate)


def with_channels(channels: int) -> ConfigOption:
    return _setter("channels", channels)


def with_language(language: str) -> ConfigOption:
    return _setter("language", language)


def with_latency_target(target: str) -> ConfigOption:
    return _setter("latency_target", target)


def with_reasoning_mode(mode: str) -> ConfigOption:
    return _setter("reasoning_mode", mode)


def with_fallback_providers(*names: str) -> ConfigOption:
    return _setter("fallback_providers", list(names))


def with_api_key(key: str) -> ConfigOption:
    return _setter("api_key", key)


def with_timeout(seconds: float) -> ConfigOption:
    return _setter("timeout", seconds)


def with_max_concurrent_sessions(limit: int) -> ConfigOption:
    return _setter("max_concurrent_sessions", limit)


def with_retry(max_retries: int, delay: float = 1.0, backoff: float = 2.0) -> ConfigOption:
    def apply(data: dict[str, Any]) -> None:
        data.update(max_retries=max_retries, retry_delay=delay, retry_backoff=backoff)

    return apply


def with_provider_specific(**settings: Any) -> ConfigOption:
    def apply(data: dict[str, Any]) -> None:
        data["provider_specific"] = {**data.get("provider_specific", {}), **settings}

    return apply


def _secret_text(value: Any) -> str | None:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value if isinstance(value, str) else None
