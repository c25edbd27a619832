"""The Python snippets of README.md and docs/, found and run as a reader would run them.

Each ```python block is complete code: a reader can paste it into a file (or, where it uses
``await`` at the top level, into ``python -m asyncio``) and run it.  It runs in a fresh
namespace, in a scratch folder that holds ``question.wav`` (the embedded voice asking "what
is two plus two", 16 kHz mono), with no API key in the environment.

An HTML comment just before a block, invisible on the rendered page, says what the block
must show and what it needs::

    <!-- snippet: expect="That is 4." wav=answer.wav:0.5 -->

``expect`` is text the block must print; ``wav=NAME:SECONDS`` a WAV it must write, at least
that long; ``continues`` that the block goes
on from what the page showed before it (every earlier block of the page runs first, in the
same namespace, as in a reader's session); ``keys`` that the block builds cloud providers
without connecting them, so placeholder keys stand in the environment.
"""

from __future__ import annotations

import ast
import contextlib
import io
import logging
import os
import re
import shlex
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parent.parent
_FENCE = re.compile(r"(?:<!--\s*snippet:(?P<opts>[^>]*)-->\s*\n)?```python\n(?P<code>.*?)```", re.S)


@dataclass(frozen=True, slots=True)
class Snippet:
    path: str
    line: int
    code: str
    options: dict[str, str] = field(default_factory=dict)
    before: tuple[Snippet, ...] = ()
    """The blocks this one continues (``continues``), run first in the same namespace."""

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def builds_a_pipeline(self) -> bool:
        return any(word in self.code for word in ("PipelineTask", "VoiceSession", "Pipeline("))


def collect() -> list[Snippet]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    found = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        page: list[Snippet] = []
        for match in _FENCE.finditer(text):
            words = shlex.split(match.group("opts") or "")
            options = dict(w.split("=", 1) if "=" in w else (w, "") for w in words)
            line = text.count("\n", 0, match.start("code"))
            before = tuple(page) if "continues" in options else ()
            code = match.group("code")
            page.append(Snippet(str(path.relative_to(ROOT)), line, code, options, before))
        found.extend(page)
    return found


def _question_wav(folder: Path) -> None:
    from beluga_voice.tts.espeak import EspeakTTS

    pcm = EspeakTTS(sample_rate=16000).synthesize("what is two plus two")
    with wave.open(str(folder / "question.wav"), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(pcm)


@contextlib.contextmanager
def _inside(folder: Path, environ: dict[str, str]) -> Iterator[None]:
    """Run in ``folder`` with ``environ``; put back the process state a block may change
    (working folder, environment, the ``beluga_voice`` logger)."""
    old_cwd, old_env = Path.cwd(), dict(os.environ)
    ours = logging.getLogger("beluga_voice")
    old_log = (ours.handlers[:], ours.level)
    os.chdir(folder)
    for name in [n for n in os.environ if n.endswith("_API_KEY") or n.startswith("AWS_")]:
        del os.environ[name]
    os.environ.update(environ)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(old_env)
        ours.handlers[:], ours.level = old_log[0], old_log[1]


_PLACEHOLDER_KEYS = {
    name: "placeholder-never-sent-0123456789"
    for name in (
        "OPENAI_API_KEY",
        "XAI_API_KEY",
        "GEMINI_API_KEY",
        "DEEPGRAM_API_KEY",
        "ASSEMBLYAI_API_KEY",
    )
}


async def _execute(snippet: Snippet, namespace: dict[str, Any]) -> None:
    code = compile(
        snippet.code, snippet.id, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
    )
    result = eval(code, namespace)
    if result is not None:  # top-level await: the block compiled to a coroutine
        await result


def run(snippet: Snippet, folder: Path) -> str:
    """Run ``snippet`` in ``folder`` and check what it must show; returns what it printed."""
    _question_wav(folder)
    printed = io.StringIO()

    async def main() -> None:
        environ = _PLACEHOLDER_KEYS if "keys" in snippet.options else {}
        with _inside(folder, environ), contextlib.redirect_stdout(printed):
            namespace: dict[str, Any] = {"__name__": "__main__"}
            for block in (*snippet.before, snippet):
                if "asyncio.run(" in block.code or "anyio.run(" in block.code:
                    # The block runs its own event loop: give it a thread without one.
                    await anyio.to_thread.run_sync(_run_sync, block, namespace)
                else:
                    await _execute(block, namespace)

    anyio.run(main)
    out = printed.getvalue()
    if "expect" in snippet.options:
        assert snippet.options["expect"] in out, f"{snippet.id} printed {out!r}"
    if "wav" in snippet.options:
        name, _, seconds = snippet.options["wav"].partition(":")
        with wave.open(str(folder / name), "rb") as wav:
            length = wav.getnframes() / wav.getframerate()
        assert length >= float(seconds or 0.1), f"{snippet.id} wrote {length:.2f} s to {name}"
    return out


def _run_sync(snippet: Snippet, namespace: dict[str, Any]) -> None:
    exec(compile(snippet.code, snippet.id, "exec"), namespace)
