"""Every Python snippet of README.md and docs/ runs, offline, and shows what it promises."""

from __future__ import annotations

from pathlib import Path

import pytest
from _docs import Snippet, collect, run

SNIPPETS = collect()


def test_the_docs_have_snippets() -> None:
    assert len(SNIPPETS) > 15


@pytest.mark.parametrize("snippet", SNIPPETS, ids=lambda s: s.id)
def test_snippet_runs(snippet: Snippet, tmp_path: Path) -> None:
    run(snippet, tmp_path)
