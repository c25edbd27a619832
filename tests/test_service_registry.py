"""STT/TTS catalogues: lookup by name, lazy factories, clear unknown-name errors."""

from __future__ import annotations

import pytest

from beluga_voice.services import UnknownService
from beluga_voice.stt.registry import STT_SERVICES, new_stt
from beluga_voice.tts.registry import TTS_SERVICES, new_tts


def test_embedded_engines_are_listed_and_need_no_key() -> None:
    assert STT_SERVICES["pocketsphinx"].has_credentials()
    assert TTS_SERVICES["espeak"].has_credentials()


def test_unknown_names_list_the_choices() -> None:
    with pytest.raises(UnknownService, match="pocketsphinx"):
        new_stt("nope")
    with pytest.raises(UnknownService, match="espeak"):
        new_tts("nope")


def test_new_tts_builds_the_named_engine() -> None:
    tts = new_tts("espeak", sample_rate=16000)
    assert tts.name == "espeak-ng" and tts.sample_rate == 16000
