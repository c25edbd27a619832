"""The seed's examples run offline, end to end, as users would run them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(name: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
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
            "agent_integration.py",
            ["assistant: You need coffee, milk.", "assistant: Added eggs."],
        ),
    ],
)
def test_example_runs_offline(name: str, expected: list[str]) -> None:
    out = _run(name)
    for line in expected:
        assert line in out, out
