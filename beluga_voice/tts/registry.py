"""The voices that can be chosen by name (``VoiceSession``, ``--tts``)."""

from __future__ import annotations

from typing import Any

from ..services import ServiceInfo, lookup
from .base import TTSEngine
from .streaming import StreamingTTS

__all__ = ["TTS_SERVICES", "new_tts"]

TTS_SERVICES: dict[str, ServiceInfo] = {
    "espeak": ServiceInfo(
        name="espeak",
        kind="tts",
        summary="embedded, offline (espeak-ng)",
        factory="beluga_voice.tts.espeak:EspeakTTS",
    ),
    "elevenlabs": ServiceInfo(
        name="elevenlabs",
        kind="tts",
        summary="ElevenLabs, WebSocket input streaming with alignment",
        factory="beluga_voice.tts.elevenlabs:ElevenLabsTTS",
        credentials=("ELEVENLABS_API_KEY",),
    ),
    "cartesia": ServiceInfo(
        name="cartesia",
        kind="tts",
        summary="Cartesia Sonic, WebSocket contexts with word timestamps",
        factory="beluga_voice.tts.cartesia:CartesiaTTS",
        credentials=("CARTESIA_API_KEY",),
    ),
    "openai": ServiceInfo(
        name="openai",
        kind="tts",
        summary="OpenAI speech endpoint, HTTP streaming PCM per sentence",
        factory="beluga_voice.tts.openai_tts:OpenAITTS",
        credentials=("OPENAI_API_KEY",),
    ),
}


def new_tts(name: str, **options: Any) -> TTSEngine | StreamingTTS:
    """Build the voice called ``name`` with ``options`` (its constructor's keywords)."""
    engine: TTSEngine | StreamingTTS = lookup(TTS_SERVICES, name).make(**options)
    return engine
