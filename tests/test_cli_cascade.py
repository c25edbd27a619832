"""``beluga-voice run --stt NAME --tts NAME``: a cascade chosen by name from the service
catalogues, and ``providers`` listing every STT and TTS service with its credentials."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from test_cli import _restore_logging  # noqa: F401  (autouse: undo the CLI's logging set-up)
from typer.testing import CliRunner

from beluga_voice.audio import write_wav_pcm16
from beluga_voice.cli import app
from beluga_voice.stt.registry import STT_SERVICES
from beluga_voice.tts import EspeakTTS
from beluga_voice.tts.registry import TTS_SERVICES

runner = CliRunner()


def test_run_with_stt_and_tts_answers_through_the_cascade(tmp_path: Path) -> None:
    voice = EspeakTTS("en-us+f2", sample_rate=16000, rate=150)
    pcm = b"\0\0" * 8000 + voice.synthesize("what is two plus two") + b"\0\0" * 24000
    source, out = tmp_path / "q.wav", tmp_path / "reply.wav"
    write_wav_pcm16(source, pcm, 16000)
    result = runner.invoke(
        app,
        [
            "run",
            str(source),
            "-o",
            str(out),
            "--stt",
            "pocketsphinx",
            "--tts",
            "espeak",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    # One turn heard and answered (the general pocketsphinx model need not get the words).
    rows = [line.split("│") for line in result.stdout.splitlines() if line[:3].strip("│ ")]
    turns = [cells for cells in rows if len(cells) > 4 and cells[1].strip().isdigit()]
    assert len(turns) == 1 and turns[0][2].strip() not in ("", "-"), result.stdout
    assert turns[0][3].strip() not in ("", "-"), result.stdout
    with wave.open(str(out)) as w:
        assert w.getnframes() / w.getframerate() > 0.5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stt", "pocketsphinx"], "needs both --stt and --tts"),
        (["--stt", "pocketsphinx", "--tts", "nope"], "unknown tts service 'nope'"),
        (["--stt", "pocketsphinx", "--tts", "elevenlabs"], "ELEVENLABS_API_KEY"),
    ],
)
def test_a_bad_cascade_is_one_clear_line(
    args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ELEVENLABS_API_KEY", raising=False)
    result = runner.invoke(app, ["run", *args])
    assert result.exit_code == 1
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.output


def test_providers_lists_every_stt_and_tts_service_with_its_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CARTESIA_API_KEY", raising=False)
    monkeypatch.setenv("ELEVENLABS_API_KEY", "xi-placeholder-0123456789")
    result = runner.invoke(app, ["providers"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    for name, info in [*STT_SERVICES.items(), *TTS_SERVICES.items()]:
        assert name in text
        for env in info.credentials:
            assert env in text
    assert "CARTESIA_API_KEY (not set)" in text
    assert "ELEVENLABS_API_KEY (not set)" not in text
    assert "xi-placeholder-0123456789" not in text
