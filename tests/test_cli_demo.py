"""``beluga-voice run`` with no arguments: the bundled example answers every turn right,
and its latency counts from the end of the user's speech, end-of-turn wait included."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from beluga_voice.cli import app
from beluga_voice.cli.common import example_prompts
from beluga_voice.providers.local import LocalS2SProvider

runner = CliRunner()


def test_bundled_demo_hears_every_turn(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["run", "--no-progress", "-o", str(tmp_path / "r.wav")], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 0, result.output
    rows = [line.split("│")[1:-1] for line in result.output.splitlines() if line.count("│") >= 6]
    cells = [[c.strip() for c in row] for row in rows]
    prompts = example_prompts()
    assert [(said, heard) for _, said, heard, *_ in cells] == [(p, p) for p in prompts]
    assert all("did not understand" not in reply for _, _, _, reply, _ in cells)
    silence = LocalS2SProvider().settings.silence_ms
    latencies = [float(cell[-1].removesuffix(" ms")) for cell in cells]
    assert all(silence <= ms < silence + 1000 for ms in latencies), latencies
