"""Speech-to-text: the streaming interfaces and the embedded pocketsphinx engine.

The cloud services (:mod:`.deepgram`, :mod:`.assemblyai`, :mod:`.openai_realtime`,
:mod:`.openai_http`) are imported where they are used, or made by name
(:func:`~.registry.new_stt`).
"""

from .base import AsyncSTTEngine, AsyncSTTStream, STTEngine, STTResult, STTStream
from .pocketsphinx import PocketSphinxSTT

__all__ = [
    "AsyncSTTEngine",
    "AsyncSTTStream",
    "PocketSphinxSTT",
    "STTEngine",
    "STTResult",
    "STTStream",
]
