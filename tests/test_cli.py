"""The beluga-voice command line, driven in-process with typer's runner."""

from __future__ import annotations

import json
import logging
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from beluga_voice.audio import write_wav_pcm16
from beluga_voice.cli import app, example_path
from beluga_voice.tts import EspeakTTS

runner = CliRunner()


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI configures the root logger for its process; undo it for the next tests."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="module")
def two_turns(tmp_path_factory: pytest.TempPathFactory) -> Path:
    voice = EspeakTTS("en-us+f2", sample_rate=16000, rate=150)
    pause = b"\0\0" * 24000
    pcm = b"\0\0" * 8000 + voice.synthesize("hello") + pause
    pcm += voice.synthesize("what is two plus two") + pause
    path = tmp_path_factory.mktemp("cli") / "two_turns.wav"
    write_wav_pcm16(path, pcm, 16000)
    return path


def test_bundled_example_exists_and_is_small() -> None:
    path = example_path()
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        assert 5 < w.getnframes() / 16000 < 30
    assert path.stat().st_size < 600_000
    prompts = path.with_suffix(".txt").read_text().split("\n")
    assert len([p for p in prompts if p]) >= 4


def test_run_answers_each_turn_and_writes_the_replies(two_turns: Path, tmp_path: Path) -> None:
    out = tmp_path / "reply.wav"
    result = runner.invoke(app, ["run", str(two_turns), "-o", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "hello" in result.stdout and "That is 4." in result.stdout
    assert "Hello! I am Beluga." in result.stdout
    with wave.open(str(out)) as w:
        assert w.getframerate() == 24000
        assert w.getnframes() / 24000 > 2.0


def test_the_demo_answers_every_turn_of_the_bundled_example(tmp_path: Path) -> None:
    # Fed faster than real time, a next question must wait for the reply to be played out:
    # asked while the output still "plays", it is a barge-in, and replies went missing.
    result = runner.invoke(app, ["run", "-o", str(tmp_path / "r.wav"), "--no-progress"])
    assert result.exit_code == 0, result.output
    rows = [line.split("│") for line in result.stdout.splitlines() if line[:3].strip("│ ")]
    turns = [cells for cells in rows if len(cells) > 4 and cells[1].strip().isdigit()]
    assert len(turns) == 5, result.stdout
    assert all(cells[3].strip() not in ("", "-") for cells in turns), result.stdout
    assert "That is 36." in result.stdout


def test_run_with_a_config_file_and_json_logs(two_turns: Path, tmp_path: Path) -> None:
    config = tmp_path / "voice.toml"
    config.write_text(
        '[s2s]\nprovider = "local"\nsample_rate = 16000\n\n[s2s.provider_specific]\nsilence_ms = 400\n'
    )
    out = tmp_path / "reply.wav"
    result = runner.invoke(
        app,
        ["run", str(two_turns), "-o", str(out), "--config", str(config), "--log-json", "-v",
         "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "That is 4." in result.stdout
    with wave.open(str(out)) as w:
        assert w.getframerate() == 16000
    lines = [line for line in result.stderr.splitlines() if line.startswith("{")]
    assert lines, "verbose JSON logging produced no lines"
    assert all({"time", "level", "logger", "message"} <= json.loads(line).keys() for line in lines)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "/nonexistent/in.wav"], "input file not found"),
        (["run", "--provider", "nope"], "unknown provider 'nope'"),
        (["run", "--config", "/nonexistent/c.toml"], "config file not found"),
        (["run", "--provider", "openai_realtime"], "needs an API key"),
    ],
)
def test_run_errors_are_one_clear_line(
    args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.output


def test_run_rejects_a_file_that_is_not_wav(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav file at all")
    result = runner.invoke(app, ["run", str(bad), "-o", str(tmp_path / "o.wav")])
    assert result.exit_code == 1
    assert "cannot read" in result.stderr


def test_invalid_config_values_are_reported(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('sample_rate = 12345\napi_key = "sk-should-not-print"\n')
    result = runner.invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 1
    assert "invalid config" in result.stderr and "sample_rate" in result.stderr
    assert "sk-should-not-print" not in result.output


def test_providers_lists_the_registry_with_credentials() -> None:
    result = runner.invoke(app, ["providers"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    for name in ("local", "mock"):
        assert name in text
    assert "pocketsphinx" in text and "none" in text
    assert "placeholder" not in text


def test_serve_refuses_a_public_address_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BELUGA_TOKEN", raising=False)
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 1
    assert "token is required" in result.stderr


def test_the_cli_provider_is_wrapped_as_the_config_says() -> None:
    from beluga_voice.cli.common import build_provider
    from beluga_voice.providers import S2SConfig
    from beluga_voice.providers.fallback import FallbackProvider

    provider = build_provider(S2SConfig(provider="mock", fallback_providers=["local"]))
    inner = getattr(provider, "inner", provider)  # metrics and tracing sit outside
    assert isinstance(inner, FallbackProvider)
    assert [p.name for p in inner.providers] == ["mock", "local"]
