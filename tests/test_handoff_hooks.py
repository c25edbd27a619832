"""The asyncio hooks the direct hand-off relies on still behave, on every Python we claim.

``tests/_asyncio_hooks.py`` holds the probe (standard library only).  Here it runs in this
interpreter (asyncio and uvloop loops) and, as a matrix, under each claimed CPython found
on the machine (``python3.X`` on PATH, or a pyenv install of it): a release that
changes ``asyncio.tasks._enter_task`` / ``_leave_task`` fails here by name, instead of
silently turning hand-off off (every frame queued, several times slower).
"""

from __future__ import annotations

import asyncio
import asyncio.tasks
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _asyncio_hooks import probe, probe_running_loop

from beluga_voice.pipeline import handoff

CLAIMED = ("3.11", "3.12", "3.13")
PROBE = Path(__file__).with_name("_asyncio_hooks.py")


def _interpreter(version: str) -> str | None:
    """An installed CPython ``version``: a pyenv install first (its shim only answers for
    the selected version), else ``python3.X`` on PATH."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    for exe in sorted(root.glob(f"versions/{version}.*/bin/python{version}"), reverse=True):
        if exe.is_file():
            return str(exe)
    return shutil.which(f"python{version}")


def _failed(checks: list[tuple[str, bool]]) -> list[str]:
    return [promise for promise, held in checks if not held]


def test_the_hooks_behave_on_this_interpreter() -> None:
    checks = probe()
    assert len(checks) > 5
    assert not _failed(checks)


def test_the_hooks_behave_on_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")
    assert not _failed(probe(uvloop.new_event_loop))


def test_handoff_uses_the_probed_hooks_and_is_on() -> None:
    """The engine binds the same functions the probe checked, and turns hand-off on."""
    assert handoff._enter_task is asyncio.tasks._enter_task
    assert handoff._leave_task is asyncio.tasks._leave_task

    async def main() -> handoff.Turn | None:
        assert not _failed(await probe_running_loop())
        return handoff.turn_for(asyncio.get_running_loop())

    assert isinstance(asyncio.run(main()), handoff.Turn)


@pytest.mark.parametrize("version", CLAIMED)
def test_the_hooks_behave_on_each_claimed_python(version: str) -> None:
    if sys.version.startswith(version + "."):
        assert not _failed(probe())  # this interpreter: no subprocess needed
        return
    exe = _interpreter(version)
    if exe is None:
        pytest.skip(f"python{version} is not installed here: install it to check this version")
    run = subprocess.run(
        [exe, "-I", str(PROBE)], capture_output=True, text=True, timeout=60, check=False
    )
    # A probe that crashes is a failure too: an asyncio change can break it before it prints.
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count(f"{version}.") >= 6
