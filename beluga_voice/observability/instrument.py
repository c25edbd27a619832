"""Moved: the provider wrapper lives in :mod:`beluga_voice.providers.instrumented`."""

from __future__ import annotations

from .._moved import moved_names

__getattr__ = moved_names(
    __name__, "beluga_voice.providers.instrumented", ["InstrumentedProvider", "InstrumentedSession"]
)
