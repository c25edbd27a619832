"""The echo and rule agents, and the safe arithmetic parser behind the rule agent."""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from beluga_voice.agents import Agent, EchoAgent, RuleAgent
from beluga_voice.agents.arith import ArithmeticParseError, evaluate, format_number
from beluga_voice.conversation import new_conversation_context

pytestmark = pytest.mark.anyio

FIXED = datetime(2026, 3, 5, 14, 7)


async def _reply(agent: Agent, text: str) -> str:
    return "".join([p async for p in agent.respond(text, new_conversation_context())])


async def test_agents_satisfy_the_protocol() -> None:
    assert isinstance(EchoAgent(), Agent)
    assert isinstance(RuleAgent(), Agent)


async def test_echo_repeats_and_stays_quiet_on_silence() -> None:
    agent = EchoAgent()
    assert await _reply(agent, " hello there ") == "You said: hello there"
    assert await _reply(agent, "   ") == ""
    assert await _reply(EchoAgent(empty_reply="Pardon?"), "") == "Pardon?"


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("hello", "Hello! I am Beluga. How can I help you?"),
        ("what time is it", "It is 2:07 PM."),
        ("what is the date today", "Today is Thursday, March 5, 2026."),
        ("what is two plus two", "That is 4."),
        ("what is twelve times three", "That is 36."),
        ("seven divided by two", "That is 3.5."),
        ("ten divided by zero", "I cannot divide by zero."),
        ("help", "I can greet you"),
        ("goodbye", "Goodbye!"),
        ("the weather on mars", "Sorry, I did not understand."),
        ("", "I did not hear anything."),
    ],
)
async def test_rule_agent_answers(said: str, expected: str) -> None:
    assert (await _reply(RuleAgent(now=lambda: FIXED), said)).startswith(expected)


async def test_clock_formats_midnight_and_noon() -> None:
    assert RuleAgent(now=lambda: datetime(2026, 1, 1, 0, 5)).reply("time") == "It is 12:05 AM."
    assert RuleAgent(now=lambda: datetime(2026, 1, 1, 12, 0)).reply("time") == "It is 12:00 PM."


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
        ("minus four times two", -8),
        ("one hundred and five minus six", 99),
        ("twenty one thousand three hundred two", 21302),
        ("3 \u00d7 4 \u00f7 2", 6),
        ("1.5 * 2", 3),
    ],
)
def test_arithmetic_values(text: str, value: int) -> None:
    assert evaluate(text) == value


@pytest.mark.parametrize(
    "text", ["", "plus", "2 +", "(2 + 3", "2 ) 3", "__import__('os')", "2 ** 3", "1 / 0"]
)
def test_arithmetic_rejects_bad_input(text: str) -> None:
    with pytest.raises(ArithmeticParseError):
        evaluate(text)


def test_arithmetic_refuses_huge_numbers_and_long_input() -> None:
    with pytest.raises(ArithmeticParseError, match="too large"):
        evaluate("999999999 * 999999999 * 999999999")
    with pytest.raises(ArithmeticParseError, match="longer"):
        evaluate(" + ".join(["1"] * 100))


@given(
    st.integers(-10_000, 10_000),
    st.sampled_from(["+", "-", "*", "/"]),
    st.integers(-10_000, 10_000),
)
def test_arithmetic_matches_python_on_integers(a: int, op: str, b: int) -> None:
    text = f"({a}) {op} ({b})"
    if op == "/" and b == 0:
        with pytest.raises(ArithmeticParseError):
            evaluate(text)
        return
    expected = {
        "+": Fraction(a) + b,
        "-": Fraction(a) - b,
        "*": Fraction(a) * b,
        "/": Fraction(a, b or 1),
    }[op]
    assert evaluate(text) == expected


@given(st.text(max_size=200))
def test_arithmetic_parser_never_crashes(text: str) -> None:
    try:
        value = evaluate(text)
    except ArithmeticParseError:
        return
    assert isinstance(value, Fraction)


@given(st.text(max_size=200))
def test_rule_agent_always_answers(text: str) -> None:
    assert RuleAgent(now=lambda: FIXED).reply(text)


def test_format_number() -> None:
    assert format_number(Fraction(4)) == "4"
    assert format_number(Fraction(7, 2)) == "3.5"
    assert format_number(Fraction(1, 3)) == "0.3333"
