"""Local, offline speech engines (no network, no API key)."""

from .espeak import EspeakError, EspeakSynth, list_voices

__all__ = ["EspeakError", "EspeakSynth", "list_voices"]
