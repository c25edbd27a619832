"""Importing a piece of the package imports what that piece uses, not the whole package.

Each check runs in a fresh interpreter (a subprocess), since this test process has long
imported everything.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_the_pipeline_does_not_import_httpx_or_the_providers() -> None:
    out = _run(
        "import sys, beluga_voice.pipeline\n"
        "print(sorted(m for m in sys.modules if m == 'httpx' or m.startswith('httpx.')"
        " or m.startswith('beluga_voice.providers')))"
    )
    assert out == "[]"


def test_validating_fallbacks_imports_no_provider_and_loads_no_entry_point() -> None:
    out = _run(
        "import sys\n"
        "import importlib.metadata as md\n"
        "loaded = []\n"
        "real = md.EntryPoint.load\n"
        "md.EntryPoint.load = lambda self: loaded.append(self.name) or real(self)\n"
        "from beluga_voice.providers.config import S2SConfig\n"
        "before = set(sys.modules)\n"
        "S2SConfig(provider='mock', fallback_providers=['openai_realtime', 'gemini', 'local'])\n"
        "print(sorted(m for m in set(sys.modules) - before if m.startswith('beluga_voice')),"
        " [n for n in loaded if n])\n"
    )
    assert out == "[] []"


def test_an_unknown_fallback_is_still_refused_with_the_known_names() -> None:
    out = _run(
        "from beluga_voice.providers.config import S2SConfig\n"
        "try:\n"
        "    S2SConfig(provider='mock', fallback_providers=['nope'])\n"
        "except ValueError as exc:\n"
        "    print(exc)\n"
    )
    assert "unknown provider 'nope'" in out
    assert "openai_realtime" in out and "amazon_nova" in out


def test_the_top_level_names_still_import_lazily() -> None:
    out = _run(
        "import sys, beluga_voice\n"
        "assert 'beluga_voice.session' not in sys.modules\n"
        "from beluga_voice import VoiceSession, new_provider, Pipeline\n"
        "print(VoiceSession.__module__, new_provider.__module__, Pipeline.__module__)\n"
    )
    assert (
        out == "beluga_voice.session beluga_voice.providers.registry beluga_voice.pipeline.compose"
    )
