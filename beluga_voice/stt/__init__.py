"""Speech-to-text: the streaming interface and the embedded pocketsphinx engine."""

from .base import STTEngine, STTResult, STTStream
from .pocketsphinx import PocketSphinxSTT

__all__ = ["PocketSphinxSTT", "STTEngine", "STTResult", "STTStream"]
