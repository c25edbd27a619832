"""The examples in examples/ run offline, end to end, as users would run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(name: str) -> str:
    # The checkout under test comes first on the path, not whatever copy is installed.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(EXAMPLES.parent), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    # Examples print only what they mean to show: library log lines go through logging,
    # which is quiet until the application configures it.
    assert result.stderr.strip() == "", result.stderr[-2000:]
    return result.stdout


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "basic_conversation.py",
            ["one-shot: 'That is 36.'", "assistant: Hello! I am Beluga.", "user: what time is it"],
        ),
        (
            "multi_provider.py",
            ["switched: flaky-cloud -> local (error)", "assistant: That is 36."],
        ),
        (
            "custom_pipeline.py",
            [
                "switched: flaky-cloud -> local (error)",
                "assistant: That is 36.",
                "assistant: Anything else?",  # said by the provider, pushed upstream
                "switched: tts -> tts (retry)",
                "the TTS was called 2 times",
                "errors the app saw: 0",
            ],
        ),
        (
            "agent_integration.py",
            ["assistant: You need coffee, milk.", "assistant: Added eggs."],
        ),
    ],
)
def test_example_runs_offline(name: str, expected: list[str]) -> None:
    out = _run(name)
    for line in expected:
        assert line in out, out


def test_example_test_file_passes_in_under_two_seconds(tmp_path: Path) -> None:
    """examples/test_offline_agent.py: the offline agent, a barge-in included, tested in
    under 2 s of wall time (setup, calls and teardown of its tests, as pytest times them)."""
    import xml.etree.ElementTree as ET

    report = tmp_path / "report.xml"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(EXAMPLES / "test_offline_agent.py"),
            "-p",
            "no:randomly",
            f"--junitxml={report}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=EXAMPLES.parent,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    cases = ET.parse(report).getroot().iter("testcase")
    times = {case.get("name"): float(case.get("time", "0")) for case in cases}
    assert "test_arithmetic_and_barge_in" in times, times
    assert sum(times.values()) < 2.0, times
