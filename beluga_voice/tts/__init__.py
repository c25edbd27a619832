"""Text-to-speech: the sentence and streaming interfaces, sentence aggregation, the
espeak-ng voice; the cloud voices live in subpackages, imported when chosen."""

from .base import TTSEngine
from .espeak import EspeakTTS
from .sentences import SentenceAggregator, split_sentences
from .streaming import StreamingTTS, TTSReply

__all__ = [
    "EspeakTTS",
    "SentenceAggregator",
    "StreamingTTS",
    "TTSEngine",
    "TTSReply",
    "split_sentences",
]
