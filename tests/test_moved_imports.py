"""Moved and renamed modules: the old import paths work for one release.

Shared pieces moved to the ground floor; two modules were renamed after what they hold.

Each old path must hand back the very object of the new home and say, with a
DeprecationWarning, where it went.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

MOVED = [
    ("beluga_voice.processors.resample", "StreamResampler", "beluga_voice.audio.resample"),
    ("beluga_voice.processors.vad", "VADStream", "beluga_voice.audio.vad"),
    ("beluga_voice.processors.vad", "VADParams", "beluga_voice.audio.vad"),
    ("beluga_voice.processors.vad", "detect_speech", "beluga_voice.audio.vad"),
    ("beluga_voice.processors.vad.analyzers", "EnergyAnalyzer", "beluga_voice.audio.vad.analyzers"),
    ("beluga_voice.processors.vad.state", "VoiceActivityTracker", "beluga_voice.audio.vad.state"),
    ("beluga_voice.processors.vad.stream", "VADStream", "beluga_voice.audio.vad.stream"),
    ("beluga_voice.testing.speech", "EnergyTurnDetector", "beluga_voice.audio.turns"),
    ("beluga_voice.testing.speech", "TurnEvent", "beluga_voice.audio.turns"),
    ("beluga_voice.providers.types", "ConversationContext", "beluga_voice.conversation"),
    ("beluga_voice.providers.types", "Turn", "beluga_voice.conversation"),
    ("beluga_voice.providers.types", "new_conversation_context", "beluga_voice.conversation"),
    ("beluga_voice.providers.errors", "redact", "beluga_voice.secrets"),
    ("beluga_voice.providers.errors", "register_secret", "beluga_voice.secrets"),
    # renamed after what they hold
    (
        "beluga_voice.providers.replay",
        "ResilientSession",
        "beluga_voice.providers.resilient_session",
    ),
    ("beluga_voice.processors.turns", "TurnLatency", "beluga_voice.processors.latency"),
]


@pytest.mark.parametrize(("old", "name", "new"), MOVED)
def test_old_path_warns_and_gives_the_same_object(old: str, name: str, new: str) -> None:
    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=rf"{old}\.{name} has moved to {new}\.{name}"):
        got = getattr(module, name)
    assert got is getattr(importlib.import_module(new), name)


def test_from_import_of_an_old_path_warns() -> None:
    with pytest.warns(DeprecationWarning, match="beluga_voice.secrets"):
        from beluga_voice.providers.errors import redact
    assert redact("key sk-abcdefghijklmnop") == "key ***"


def test_unknown_names_still_raise_attribute_error() -> None:
    import beluga_voice.processors.resample as old

    with pytest.raises(AttributeError, match="no_such_name"):
        _ = old.no_such_name  # type: ignore[attr-defined]


def test_journal_resampler_is_the_stream_resampler_with_a_warning() -> None:
    from beluga_voice.audio.resample import StreamResampler
    from beluga_voice.providers.journal import Resampler

    with pytest.warns(DeprecationWarning, match="StreamResampler"):
        old = Resampler(24000, 16000)
    assert isinstance(old, StreamResampler)
    assert len(old(b"\x00\x00" * 2400)) == len(
        StreamResampler(24000, 16000).process(b"\x00\x00" * 2400)
    )


def test_the_package_itself_uses_no_old_path() -> None:
    """Importing the whole package through its new homes raises no DeprecationWarning."""
    import subprocess
    import sys

    code = (
        "import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
        "import beluga_voice, beluga_voice.processors.vad, beluga_voice.processors.resample\n"
        "import beluga_voice.providers.mock, beluga_voice.stt.utterance, beluga_voice.testing\n"
        "import beluga_voice.transports.file, beluga_voice.processors.tts, beluga_voice.providers.resilient_session\n"
        "import beluga_voice.testing.fake_realtime, beluga_voice.testing.fake_gemini\n"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=root
    )
    assert done.returncode == 0, done.stderr


def test_observability_names_moved_next_to_what_they_observe() -> None:
    from beluga_voice.pipeline.metrics import PipelineMetrics
    from beluga_voice.providers.instrumented import InstrumentedProvider

    with pytest.warns(DeprecationWarning, match=r"beluga_voice\.pipeline\.metrics"):
        from beluga_voice.observability import PipelineMetrics as old_metrics
    with pytest.warns(DeprecationWarning, match=r"beluga_voice\.providers\.instrumented"):
        from beluga_voice.observability.instrument import InstrumentedProvider as old_wrapper
    assert old_metrics is PipelineMetrics and old_wrapper is InstrumentedProvider


def test_errors_live_on_the_ground_floor_and_providers_name_the_same_objects() -> None:
    from beluga_voice import errors
    from beluga_voice.providers import errors as provider_errors

    assert provider_errors.S2SError is errors.S2SError
    assert provider_errors.ErrorCode is errors.ErrorCode
