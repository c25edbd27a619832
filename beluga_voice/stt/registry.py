"""The speech recognisers that can be chosen by name (``VoiceSession``, ``--stt``)."""

from __future__ import annotations

from typing import Any

from ..services import ServiceInfo, lookup
from .base import AsyncSTTEngine, STTEngine

__all__ = ["STT_SERVICES", "new_stt"]

STT_SERVICES: dict[str, ServiceInfo] = {
    "pocketsphinx": ServiceInfo(
        name="pocketsphinx",
        kind="stt",
        summary="embedded, offline (CMU pocketsphinx)",
        factory="beluga_voice.stt.pocketsphinx:PocketSphinxSTT",
    ),
    "deepgram": ServiceInfo(
        name="deepgram",
        kind="stt",
        summary="Deepgram live streaming (nova-3), interim results",
        factory="beluga_voice.stt.deepgram:DeepgramSTT",
        credentials=("DEEPGRAM_API_KEY",),
    ),
    "assemblyai": ServiceInfo(
        name="assemblyai",
        kind="stt",
        summary="AssemblyAI Universal-Streaming (v3), partial and formatted turns",
        factory="beluga_voice.stt.assemblyai:AssemblyAISTT",
        credentials=("ASSEMBLYAI_API_KEY",),
    ),
    "openai": ServiceInfo(
        name="openai",
        kind="stt",
        summary="OpenAI realtime transcription (gpt-4o-transcribe), streaming deltas",
        factory="beluga_voice.stt.openai_realtime:OpenAIRealtimeSTT",
        credentials=("OPENAI_API_KEY",),
    ),
    "openai-http": ServiceInfo(
        name="openai-http",
        kind="stt",
        summary="OpenAI-compatible /audio/transcriptions, one request per utterance",
        factory="beluga_voice.stt.openai_http:OpenAIHTTPSTT",
        credentials=("OPENAI_API_KEY",),
    ),
}


def new_stt(name: str, **options: Any) -> STTEngine | AsyncSTTEngine:
    """Build the recogniser called ``name`` with ``options`` (its constructor's keywords):
    an embedded engine or a service; :class:`~beluga_voice.processors.stt.STTProcessor`
    drives either."""
    engine: STTEngine | AsyncSTTEngine = lookup(STT_SERVICES, name).make(**options)
    return engine
