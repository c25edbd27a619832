"""Each docs snippet that builds a pipeline runs five times in a row in one process.

A snippet is what a new user runs first; run again and again it must neither crash (a
native engine closed under a running call), hang, nor leak into the next run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from _docs import ROOT, Snippet, collect

PIPELINES = [s for s in collect() if s.builds_a_pipeline]

_RUN_FIVE_TIMES = """
import sys, tempfile
from pathlib import Path
sys.path[:0] = [{root!r}, {tests!r}]  # this checkout's package, whatever is installed
from _docs import collect, run
snippet = next(s for s in collect() if s.id == {id!r})
for _ in range(5):
    with tempfile.TemporaryDirectory() as folder:
        run(snippet, Path(folder))
print("five runs done")
"""


def test_some_snippets_build_pipelines() -> None:
    assert len(PIPELINES) >= 4


@pytest.mark.timeout(300)
@pytest.mark.parametrize("snippet", PIPELINES, ids=lambda s: s.id)
def test_pipeline_snippet_runs_five_times(snippet: Snippet, tmp_path: Path) -> None:
    code = _RUN_FIVE_TIMES.format(root=str(ROOT), tests=str(ROOT / "tests"), id=snippet.id)
    result = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", code],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "five runs done" in result.stdout
