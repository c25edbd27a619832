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
