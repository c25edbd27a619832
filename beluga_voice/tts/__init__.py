"""Text-to-speech: the streaming interface, sentence aggregation and the espeak-ng voice."""

from .base import TTSEngine
from .espeak import EspeakTTS
from .sentences import SentenceAggregator, split_sentences

__all__ = ["EspeakTTS", "SentenceAggregator", "TTSEngine", "split_sentences"]
