"""TEN VAD where the system lacks libc++: one clear error naming the fix.

Without the fix, ``TenVad()`` fails half-built and its ``__del__`` raises AttributeError
(``'TenVad' object has no attribute 'vad_library'``), which is what users saw.
"""

from __future__ import annotations

import ctypes
import gc
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from beluga_voice.audio.vad import TenVADAnalyzer, analyzers

ten_vad = pytest.importorskip("ten_vad")  # imported before any test patches ctypes

FIX = "apt-get install libc++1 libc++abi1"


@pytest.fixture
def unraisable(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Exceptions raised where Python can only print them (``__del__``)."""
    seen: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    return seen


def test_library_that_cannot_load_gives_the_fix_and_no_attribute_error(
    monkeypatch: pytest.MonkeyPatch, unraisable: list[Any]
) -> None:
    real = ctypes.CDLL

    def cdll(name: str, *args: Any, **kwargs: Any) -> Any:
        if "ten_vad" in str(name):
            raise OSError("libc++.so.1: cannot open shared object file: No such file")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(ctypes, "CDLL", cdll)
    analyzers._check_ten_library.cache_clear()  # an earlier test may have loaded it
    with pytest.raises(ImportError, match=re.escape(FIX)):
        TenVADAnalyzer()
    gc.collect()
    assert unraisable == []
    analyzers._check_ten_library.cache_clear()


def test_attribute_error_from_the_wrapper_becomes_the_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class HalfBuilt:
        def __init__(self, *args: object) -> None:
            raise AttributeError("'TenVad' object has no attribute 'vad_library'")

    monkeypatch.setattr(ten_vad, "TenVad", HalfBuilt)
    with pytest.raises(ImportError, match=re.escape(FIX)) as info:
        TenVADAnalyzer()
    assert isinstance(info.value.__cause__, AttributeError)


def _libcxx_path() -> Path | None:
    try:
        out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in out.stdout.splitlines():
        if line.strip().startswith("libc++.so.1 ") and "=>" in line:
            return Path(line.split("=>")[1].strip())
    return None


@pytest.mark.skipif(
    sys.platform != "linux" or os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="hides libc++ in a private mount namespace: needs Linux, root and unshare",
)
def test_real_missing_libcxx_in_a_private_mount_namespace(tmp_path: Path) -> None:
    lib = _libcxx_path()
    if lib is None:
        pytest.skip("libc++ is not installed here: nothing to hide")
    empty = tmp_path / "empty.so"
    empty.write_bytes(b"")
    code = "from beluga_voice.audio.vad import TenVADAnalyzer; TenVADAnalyzer()"
    script = f'mount --bind "{empty}" "{lib}" && exec "{sys.executable}" -c "{code}"'
    try:
        out = subprocess.run(
            ["unshare", "-m", "sh", "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=Path(__file__).parents[1],
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the child did not finish in 60 s")
    if "mount" in out.stderr and "ImportError" not in out.stderr:
        pytest.skip(f"private mounts are not allowed here: {out.stderr.strip()[:200]}")
    assert out.returncode != 0
    assert FIX in out.stderr
    assert "AttributeError" not in out.stderr
