"""What ``latency_target``, ``language`` and ``channels`` of an :class:`S2SConfig` mean for
each provider, in one place.

The first reply after the user stops talking can come no sooner than the provider decides
the turn is over, so the latency target is mostly a choice of *endpointing*: how much
silence (or how eager a semantic detector) ends a turn.  Shorter is faster and cuts more
users off at a pause; each service exposes that trade-off under its own names.  The table
:data:`TURN_TIMING` states the choice for every provider and target, and
``docs/providers/targets.md`` prints it for users.

A value the user sets in ``provider_specific`` always wins: :func:`fill` only sets the
fields a user left out (pydantic's ``model_fields_set``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from .errors import ErrorCode, S2SError

__all__ = ["TURN_TIMING", "TurnTiming", "fill", "language_of", "refuse_language", "require_mono"]

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class TurnTiming:
    """Endpointing of every provider for one latency target."""

    silence_ms: int
    """OpenAI and Grok ``server_vad.silence_duration_ms``; Gemini ``silenceDurationMs``."""
    eagerness: Literal["low", "medium", "high"]
    """OpenAI ``semantic_vad.eagerness``."""
    gemini_start: Literal["high", "low"]
    gemini_end: Literal["high", "low"]
    """Gemini ``startOfSpeechSensitivity`` / ``endOfSpeechSensitivity``."""
    nova: Literal["HIGH", "MEDIUM", "LOW"]
    """Nova 2 Sonic ``endpointingSensitivity`` (HIGH ends a turn after about 1.5 s of
    pause, MEDIUM 1.75 s, LOW 2 s: Nova's own trade-off, coarser than the others')."""
    local_silence_ms: int
    """The ``local`` provider's end-of-turn silence (its VAD's ``stop_secs``)."""
    local_vad: Literal["energy", "webrtc"]
    """The ``local`` provider's VAD.  A short silence needs one that keeps the weak end
    of a word (an ``s`` in noise) as speech, or it ends turns at every comma: WebRTC's
    spectral model does, the energy detector does not (``benchmarks/latency_targets.py``)."""


TURN_TIMING: dict[str, TurnTiming] = {
    "low": TurnTiming(200, "high", "high", "high", "HIGH", 250, "webrtc"),
    "medium": TurnTiming(500, "medium", "high", "high", "MEDIUM", 500, "energy"),
    "high": TurnTiming(800, "low", "low", "low", "LOW", 800, "energy"),
}
"""Per latency target.  ``medium`` is the services' documented defaults (OpenAI's 500 ms
server VAD, Gemini Live's high end sensitivity, Nova's MEDIUM)."""


def fill(settings: M, values: Mapping[str, Any]) -> M:
    """``settings`` with ``values`` for the fields the user did not set (theirs win)."""
    missing = {k: v for k, v in values.items() if k not in settings.model_fields_set}
    if not missing:
        return settings
    merged = {**settings.model_dump(exclude_unset=True), **missing}
    # Validated again: a value from the table must satisfy the provider's own rules.
    return type(settings).model_validate(merged)


def language_of(tag: str) -> str:
    """The ISO 639-1 primary language of a BCP 47 tag (``en-US`` -> ``en``)."""
    return tag.split("-", 1)[0].lower()


def refuse_language(provider: str, language: str, supported: str) -> S2SError:
    """The ``invalid_config`` for a language the provider cannot speak."""
    return S2SError(
        "new_provider",
        ErrorCode.INVALID_CONFIG,
        f"language: {provider} does not support {language!r}; it supports {supported}",
    )


def require_mono(provider: str, channels: int) -> None:
    """Refuse ``channels`` other than 1: every speech service takes mono, and a session is
    fed audio in the service's format.  Stereo frames in a pipeline are down-mixed by the
    S2S processor whatever this setting says, so nothing is lost by refusing it here."""
    if channels != 1:
        raise S2SError(
            "new_provider",
            ErrorCode.INVALID_CONFIG,
            f"channels: {provider} takes mono audio only (channels=1), not {channels}; "
            "S2SProcessor down-mixes stereo frames by itself",
        )
