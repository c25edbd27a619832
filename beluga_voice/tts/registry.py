"""The voices that can be chosen by name (``VoiceSession``, ``--tts``)."""

from __future__ import annotations

from typing import Any

from ..services import ServiceInfo, lookup
from .base import TTSEngine

__all__ = ["TTS_SERVICES", "new_tts"]

TTS_SERVICES: dict[str, ServiceInfo] = {
    "espeak": ServiceInfo(
        name="espeak",
        kind="tts",
        summary="embedded, offline (espeak-ng)",
        factory="beluga_voice.tts.espeak:EspeakTTS",
    ),
}


def new_tts(name: str, **options: Any) -> TTSEngine:
    """Build the voice called ``name`` with ``options`` (its constructor's keywords)."""
    engine: TTSEngine = lookup(TTS_SERVICES, name).make(**options)
    return engine
