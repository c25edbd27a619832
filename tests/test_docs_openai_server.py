"""Every Python snippet of docs/openai-compatible-server.md runs, offline, and prints
what the page says it prints."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

_DOC = Path(__file__).resolve().parent.parent / "docs" / "openai-compatible-server.md"
_SNIPPETS = re.findall(r"```python\n(.*?)```", _DOC.read_text(encoding="utf-8"), re.S)


def test_the_page_has_its_snippets() -> None:
    assert len(_SNIPPETS) == 2


@pytest.mark.parametrize(
    ("index", "expected"),
    [(0, "assistant: That is 4."), (1, "listening on ws://127.0.0.1:")],
)
def test_snippet_runs(index: int, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(_SNIPPETS[index], f"{_DOC.name}[{index}]", "exec"), {"__name__": "__main__"})
    assert expected in capsys.readouterr().out
