"""The speech recognisers that can be chosen by name (``VoiceSession``, ``--stt``)."""

from __future__ import annotations

from typing import Any

from ..services import ServiceInfo, lookup
from .base import STTEngine

__all__ = ["STT_SERVICES", "new_stt"]

STT_SERVICES: dict[str, ServiceInfo] = {
    "pocketsphinx": ServiceInfo(
        name="pocketsphinx",
        kind="stt",
        summary="embedded, offline (CMU pocketsphinx)",
        factory="beluga_voice.stt.pocketsphinx:PocketSphinxSTT",
    ),
}


def new_stt(name: str, **options: Any) -> STTEngine:
    """Build the recogniser called ``name`` with ``options`` (its constructor's keywords)."""
    engine: STTEngine = lookup(STT_SERVICES, name).make(**options)
    return engine
