"""The pytest plugin: a ``caller`` fixture, the virtual clock, and an LLM ``judge``.

Installed with beluga-voice (entry point ``pytest11``), so its fixtures are there in any
test suite::

    @pytest.mark.anyio
    async def test_sum(caller):
        async with caller(new_provider("local")) as call:
            turn = await call.say("what is two plus three")
        assert turn.reply.mentions("5")

Options (command line, or the ini file without the leading dashes and with ``_``):

* ``--beluga-clock virtual|real`` (ini ``beluga_clock``, default ``virtual``): the clock
  of every caller; a test can pick its own with ``@pytest.mark.beluga_clock("real")``.
* ``--beluga-judge-url`` / ``--beluga-judge-model`` (or ``BELUGA_JUDGE_URL``,
  ``BELUGA_JUDGE_MODEL``, ``BELUGA_JUDGE_API_KEY``): the OpenAI-compatible endpoint of
  the ``judge`` fixture; tests that use the judge are skipped when none is set.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import pytest

from .caller import Caller
from .caller.turns import Turn
from .judge import Judge, Verdict

__all__ = ["BoundJudge", "CallerFactory"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("beluga_voice", "beluga-voice conversation tests")
    group.addoption(
        "--beluga-clock",
        choices=("virtual", "real"),
        default=None,
        help="clock of the caller fixture (default: ini beluga_clock, else virtual)",
    )
    group.addoption("--beluga-judge-url", default=None, help="OpenAI-compatible base URL")
    group.addoption("--beluga-judge-model", default=None, help="model of the judge")
    parser.addini("beluga_clock", "clock of the caller fixture: virtual or real", default="virtual")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "beluga_clock(name): run this test's callers on the 'virtual' or 'real' clock"
    )


class CallerFactory:
    """What the ``caller`` fixture gives: ``caller(target, **options)`` makes a
    :class:`Caller` on the configured clock; ``callers`` lists those made."""

    def __init__(self, clock: str) -> None:
        self.clock = clock
        self.callers: list[Caller] = []

    def __call__(self, target: Any, **options: Any) -> Caller:
        options.setdefault("clock", self.clock)
        made = Caller(target, **options)
        self.callers.append(made)
        return made

    @property
    def turns(self) -> list[Turn]:
        """Every turn of every caller made so far, in order."""
        return [turn for made in self.callers for turn in made.turns]


@pytest.fixture
def beluga_clock(request: pytest.FixtureRequest) -> str:
    """The clock name in force for this test: marker, then option, then ini."""
    marker = request.node.get_closest_marker("beluga_clock")
    if marker is not None and marker.args:
        return str(marker.args[0])
    option = request.config.getoption("--beluga-clock")
    return str(option or request.config.getini("beluga_clock") or "virtual")


@pytest.fixture
def caller(beluga_clock: str) -> CallerFactory:
    """Make scripted callers: ``async with caller(target) as call: await call.say(...)``."""
    return CallerFactory(beluga_clock)


class BoundJudge:
    """The ``judge`` fixture: ``await judge("criterion")`` grades the conversation of the
    test's callers (or the ``turns`` / text given)."""

    def __init__(self, judge: Judge, callers: CallerFactory) -> None:
        self.judge = judge
        self.callers = callers

    async def __call__(self, criterion: str, turns: Sequence[Turn] | str | None = None) -> Verdict:
        return await self.judge(criterion, self.callers.turns if turns is None else turns)


@pytest.fixture
def judge(request: pytest.FixtureRequest, caller: CallerFactory) -> BoundJudge:
    """An LLM judge of the test's conversation (skipped when no endpoint is configured)."""
    url = request.config.getoption("--beluga-judge-url") or os.environ.get("BELUGA_JUDGE_URL")
    model = request.config.getoption("--beluga-judge-model") or os.environ.get(
        "BELUGA_JUDGE_MODEL", "gpt-4o-mini"
    )
    if not url:
        pytest.skip("no judge endpoint: set --beluga-judge-url or BELUGA_JUDGE_URL")
    return BoundJudge(Judge(url, model, os.environ.get("BELUGA_JUDGE_API_KEY")), caller)
