"""Shared test configuration: anyio tests run on asyncio; engine tests run in both modes."""

from __future__ import annotations

import inspect

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Async tests marked ``engine`` run on both anyio backends.

    The engine promises anyio, so it must run on trio too, where every hop is queued.
    """
    marked = metafunc.definition.get_closest_marker("engine") is not None
    if marked and inspect.iscoroutinefunction(metafunc.function):
        metafunc.parametrize("anyio_backend", ["asyncio", "trio"])


@pytest.fixture(params=["handoff", "queued"])
def engine_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test twice: with direct hand-off to idle processors, and with every hop queued.

    Both paths must keep the engine's promises; which one a frame takes depends on timing.
    """
    from beluga_voice.pipeline import FrameProcessor

    if request.param == "queued":
        monkeypatch.setattr(FrameProcessor, "direct_handoff", False)
    return str(request.param)
