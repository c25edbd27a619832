"""A small offline rule agent: greetings, the time, the date, arithmetic and help.

It is the default brain of the local provider, so an offline conversation has something
useful to say.  Rules are tried in order and the first that matches answers; matching is
on words (recognisers produce lower-case words without punctuation), and arithmetic goes
through the safe parser of :mod:`beluga_voice.agents.arith`, never through ``eval``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from ..conversation import ConversationContext
from .arith import ArithmeticParseError, evaluate, find_expression, format_number

__all__ = ["RuleAgent"]

_NUMBER_WORDS = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    "hundred", "thousand",
]  # fmt: skip
_OPERATOR_WORDS = ("plus", "minus", "times", "divided by", "multiplied by")
_FIXED_PHRASES = (
    "hello", "hi", "hey", "hello there", "good morning", "good afternoon", "good evening",
    "what time is it", "what is the time", "tell me the time", "what is the date",
    "what is the date today", "what day is it", "what day is it today", "help",
    "what can you do", "goodbye", "bye", "thank you", "thanks", "what is your name",
)  # fmt: skip

HELP_TEXT = (
    "I can greet you, tell you the time or the date, and do simple arithmetic. "
    "Try asking: what is twelve times three?"
)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


class RuleAgent:
    """See the module docstring.  ``now`` gives the current local time (inject a fixed
    clock in tests); ``name`` is how the agent introduces itself."""

    def __init__(self, *, name: str = "Beluga", now: Callable[[], datetime] = datetime.now) -> None:
        self.name = name
        self.now = now

    async def respond(self, text: str, ctx: ConversationContext) -> AsyncIterator[str]:
        yield self.reply(text)

    def phrases(self) -> list[str]:
        """Examples of what this agent understands, for a domain speech model
        (:class:`~beluga_voice.stt.PocketSphinxSTT` ``phrases``).

        The mix matters more than the size: every number and operator appears in a few
        sums, and the fixed phrases are repeated so that "what is" (which starts every
        sum) does not swamp the greetings in the n-gram counts.
        """
        out = list(_FIXED_PHRASES) * 3
        out.append(f"my name is {self.name.lower()}")
        n = len(_NUMBER_WORDS)
        for i, a in enumerate(_NUMBER_WORDS):
            for j, op in enumerate(_OPERATOR_WORDS):
                b = _NUMBER_WORDS[(i * 7 + j * 3 + 1) % n]
                out += [f"what is {a} {op} {b}", f"{a} {op} {b}"]
        return out

    def reply(self, text: str) -> str:
        """The whole answer to ``text`` (the rules are instant, so there is one piece)."""
        words = _words(text)
        if not words and not text.strip():
            return "I did not hear anything. Say help to hear what I can do."
        if find_expression(text):
            try:
                return f"That is {format_number(evaluate(text))}."
            except ArithmeticParseError as exc:
                if str(exc) == "division by zero":
                    return "I cannot divide by zero."
        if words & {"help", "commands"} or {"what", "can", "you", "do"} <= words:
            return HELP_TEXT
        if "time" in words:
            return f"It is {self._clock()}."
        if words & {"date", "today"} or {"what", "day"} <= words:
            return f"Today is {self._date()}."
        if words & {"bye", "goodbye"}:
            return "Goodbye! It was nice talking to you."
        if words & {"thanks", "thank"}:
            return "You are welcome."
        if words & {"hello", "hi", "hey", "greetings"} or {"good", "morning"} <= words:
            return f"Hello! I am {self.name}. How can I help you?"
        if "name" in words:
            return f"My name is {self.name}."
        return "Sorry, I did not understand. Say help to hear what I can do."

    def _clock(self) -> str:
        now = self.now()
        hour = now.hour % 12 or 12
        return f"{hour}:{now.minute:02d} {'AM' if now.hour < 12 else 'PM'}"

    def _date(self) -> str:
        now = self.now()
        return f"{now:%A}, {now:%B} {now.day}, {now.year}"
