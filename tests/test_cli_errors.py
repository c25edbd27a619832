"""The CLI's error paths: each fails at once with a message that names the cause and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from beluga_voice.cli import app

runner = CliRunner()


def test_missing_openai_key_names_provider_and_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "BELUGA_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    result = runner.invoke(app, ["run", "-p", "openai_realtime", "--no-progress"])
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "openai_realtime needs an API key" in text
    assert "OPENAI_API_KEY" in text


def test_missing_aws_credentials_fail_before_any_connection(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    result = runner.invoke(app, ["run", "-p", "amazon_nova", "--no-progress"])
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "no AWS credentials found" in text
    assert "AWS_ACCESS_KEY_ID" in text and "AWS_PROFILE" in text
    assert str(tmp_path / "credentials") in text.replace(" ", "") or "credentials" in text
    assert "network_error" not in text


def test_unwritable_output_fails_before_running() -> None:
    result = runner.invoke(app, ["run", "-o", "/nonexistent/dir/x.wav", "--no-progress"])
    assert result.exit_code == 1
    assert "directory /nonexistent/dir does not exist" in " ".join(result.output.split())
    assert "wrote" not in result.output


def test_verbose_has_help_text() -> None:
    result = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "200"})
    assert "Log what the pipeline and provider do" in result.output


def test_flags_show_no_value_type_in_help() -> None:
    for command in (["run", "--help"], ["serve", "--help"], ["--help"]):
        result = runner.invoke(app, command, env={"COLUMNS": "200"})
        assert result.exit_code == 0
        assert "--help" in result.output and "<bool>" not in result.output
    assert "<path>" in runner.invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).output


def test_token_refusal_names_the_option_and_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BELUGA_TOKEN", raising=False)
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "token is required" in text and "--token" in text and "BELUGA_TOKEN" in text


def test_missing_key_message_is_not_redacted_into_stars(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "BELUGA_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    result = runner.invoke(app, ["run", "-p", "openai_realtime", "--no-progress"])
    text = " ".join(result.output.split())
    assert "openai_realtime needs an API key (config.api_key or OPENAI_API_KEY" in text
    assert "***" not in text


def test_sigterm_before_serving_stops_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    import signal

    import typer

    from beluga_voice.cli.common import stops_on_sigterm

    @stops_on_sigterm
    def starting() -> None:
        signal.raise_signal(signal.SIGTERM)  # as if sent while the provider is being built
        raise AssertionError("SIGTERM did not stop the command")

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(typer.Exit) as stopped:
        starting()
    assert stopped.value.exit_code == 0
    assert "stopped (SIGTERM)" in capsys.readouterr().out
    assert signal.getsignal(signal.SIGTERM) is before  # the previous handler is back


def test_sigterm_while_serving_openai_realtime_exits_cleanly() -> None:
    import signal
    import subprocess
    import sys
    import threading

    cmd = [sys.executable, "-m", "beluga_voice.cli", "serve", "--port", "0"]
    proc = subprocess.Popen(
        [*cmd, "--protocol", "openai-realtime"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    watchdog = threading.Timer(30, proc.kill)  # a hung server fails the test, not the suite
    watchdog.start()
    try:
        assert proc.stdout is not None
        assert "serving" in proc.stdout.readline()
        proc.send_signal(signal.SIGTERM)
        rest = proc.stdout.read()
        assert proc.wait() == 0
    finally:
        watchdog.cancel()
        proc.kill()
    assert "stopped (SIGTERM)" in rest


_TERM_WHILE_IMPORTING = """
import builtins, os, signal, sys
import beluga_voice.__main__ as entry
real_import = builtins.__import__
def importing(name, globals=None, locals=None, fromlist=(), level=0):
    if name == "cli" and level == 1:  # the command line's import starts: SIGTERM now
        os.kill(os.getpid(), signal.SIGTERM)
    return real_import(name, globals, locals, fromlist, level)
builtins.__import__ = importing
sys.argv = ["beluga-voice", "providers"]
entry.main()
"""


def test_sigterm_while_the_command_line_is_still_importing_stops_with_a_message() -> None:
    """The script's entry point answers SIGTERM before the third of a second of imports
    (Python's default action there was a silent death with status 143)."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _TERM_WHILE_IMPORTING],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "stopped (SIGTERM)"
    assert "Traceback" not in done.stderr


def test_the_script_runs_the_entry_point_that_answers_sigterm_first() -> None:
    import tomllib

    scripts = tomllib.loads(Path("pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["beluga-voice"] == "beluga_voice.__main__:main"


def test_no_turn_says_why_and_what_to_try(tmp_path: Path) -> None:
    from beluga_voice.audio import write_wav_pcm16

    quiet = tmp_path / "quiet.wav"
    write_wav_pcm16(quiet, b"\0\0" * 16000, 16000)
    result = runner.invoke(app, ["run", str(quiet), "-o", str(tmp_path / "r.wav"), "--no-progress"])
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "no conversation turn was recognised" in text
    assert "too short or too quiet" in text and "Try speaking" in text


def test_one_turn_is_singular(tmp_path: Path) -> None:
    from beluga_voice.audio import write_wav_pcm16
    from beluga_voice.tts import EspeakTTS

    hello = tmp_path / "hello.wav"
    speech = EspeakTTS("en-us+f2", rate=150, sample_rate=16000).synthesize("what time is it")
    write_wav_pcm16(hello, b"\0\0" * 8000 + speech + b"\0\0" * 16000, 16000)
    result = runner.invoke(
        app,
        ["run", str(hello), "-o", str(tmp_path / "r.wav"), "--no-progress"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "(over 1 turn)" in result.output and "User said (as heard)" in result.output
