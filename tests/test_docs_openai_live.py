"""The Python snippets of docs/providers/openai_live.md run (offline, against the fake)."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "providers" / "openai_live.md"


def test_openai_live_doc_snippets_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert blocks, "the page should show how to use the provider"
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), {"__name__": "__doc_snippet__"})
