"""Offline stand-ins for real services: fake provider servers and helpers.

Users can run these too, to develop and test voice apps with no API key and no network.
:class:`Caller` (scripted callers, see docs/testing.md) is imported on first use: the
mock provider imports this package for its speech helpers, and should not pull in the
whole pipeline with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..audio.turns import EnergyTurnDetector, TurnEvent, tone
from .harness import run_pipeline

if TYPE_CHECKING:
    from .caller import Caller, CallerError, Reply, Turn

__all__ = [
    "Caller",
    "CallerError",
    "EnergyTurnDetector",
    "Reply",
    "Turn",
    "TurnEvent",
    "run_pipeline",
    "tone",
]

_LAZY = {"Caller", "CallerError", "Reply", "Turn"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import caller

        return getattr(caller, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
