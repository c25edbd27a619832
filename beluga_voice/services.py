"""Named STT and TTS services, so that the CLI and applications choose an engine by name.

A :class:`ServiceInfo` describes a service without importing it: the factory is a
``"module:callable"`` string resolved only when the service is made, so listing services
(``beluga-voice providers``) costs no import of any client library.  The catalogues
themselves live beside the engines they name (:mod:`beluga_voice.stt.registry`,
:mod:`beluga_voice.tts.registry`); this module is the shared shape of an entry.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["ServiceInfo", "UnknownService", "lookup"]


class UnknownService(ValueError):
    """A name that no catalogue holds; the message lists the names it does hold."""


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    """One selectable STT or TTS service."""

    name: str
    kind: Literal["stt", "tts"]
    summary: str
    factory: str
    """``"package.module:callable"``; called with the caller's keyword options."""
    credentials: tuple[str, ...] = ()
    """Environment variables the service reads its key from (empty: needs none)."""

    def has_credentials(self) -> bool:
        """Whether a key is set in the environment (or none is needed)."""
        return not self.credentials or any(os.environ.get(v) for v in self.credentials)

    def make(self, **options: Any) -> Any:
        """Import the service's module now and build an engine with ``options``."""
        module, _, attr = self.factory.partition(":")
        return getattr(importlib.import_module(module), attr)(**options)


def lookup(catalogue: dict[str, ServiceInfo], name: str) -> ServiceInfo:
    """The entry called ``name``, or :class:`UnknownService` naming the choices."""
    try:
        return catalogue[name]
    except KeyError:
        kind = next(iter(catalogue.values())).kind if catalogue else "service"
        raise UnknownService(
            f"unknown {kind} service {name!r}; choose one of: {', '.join(sorted(catalogue))}"
        ) from None
