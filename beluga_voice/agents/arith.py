"""Spoken arithmetic, parsed safely: "what is twelve times three", "7 / 2".

Recognisers write numbers as words, people type digits; both are accepted.  The parser is
a small recursive-descent parser over a closed vocabulary, so nothing the user says is
ever evaluated as code, and every failure is a :class:`ArithmeticParseError` with a
reason rather than an exception from deep inside.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

__all__ = ["ArithmeticParseError", "evaluate", "find_expression", "format_number"]

_UNITS = {
    "zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_OPS = {
    "+": "+", "plus": "+", "add": "+", "and": "+",
    "-": "-", "minus": "-", "subtract": "-", "less": "-",
    "*": "*", "x": "*", "times": "*", "multiplied": "*", "multiply": "*",
    "/": "/", "divided": "/", "over": "/", "divide": "/",
}  # fmt: skip
_FILLER = {"by", "what", "is", "whats", "what's", "how", "much", "calculate", "compute", "equals"}
_MAX_TOKENS = 64
_MAX_MAGNITUDE = Fraction(10) ** 15

_TOKEN = re.compile(r"\d+(?:\.\d+)?|[a-z']+|[-+*/x\u00d7\u00f7()]")


class ArithmeticParseError(ValueError):
    """The text is not an arithmetic question this parser understands."""


def _tokens(text: str) -> list[str]:
    text = text.lower().replace("\u00d7", "*").replace("\u00f7", "/")
    toks = [t for t in _TOKEN.findall(text) if t not in _FILLER]
    if len(toks) > _MAX_TOKENS:
        raise ArithmeticParseError(f"expression longer than {_MAX_TOKENS} words")
    return toks


def _is_number_word(tok: str) -> bool:
    return tok in _UNITS or tok in _TENS or tok in _SCALES


class _Parser:
    """expr := term (('+'|'-') term)*;  term := factor (('*'|'/') factor)*;
    factor := '-' factor | '(' expr ')' | number."""

    def __init__(self, tokens: list[str]) -> None:
        self.toks = tokens
        self.i = 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def parse(self) -> Fraction:
        if not self.toks:
            raise ArithmeticParseError("no expression")
        value = self.expr()
        if self.peek() is not None:
            raise ArithmeticParseError(f"unexpected {self.peek()!r}")
        return value

    def expr(self) -> Fraction:
        value = self.term()
        while (op := _OPS.get(self.peek() or "")) in ("+", "-"):
            self.i += 1
            rhs = self.term()
            value = value + rhs if op == "+" else value - rhs
            _check(value)
        return value

    def term(self) -> Fraction:
        value = self.factor()
        while (op := _OPS.get(self.peek() or "")) in ("*", "/"):
            self.i += 1
            rhs = self.factor()
            if op == "*":
                value *= rhs
            elif rhs == 0:
                raise ArithmeticParseError("division by zero")
            else:
                value /= rhs
            _check(value)
        return value

    def factor(self) -> Fraction:
        tok = self.peek()
        if tok is None:
            raise ArithmeticParseError("expression ends early")
        if tok in ("-", "minus", "negative"):
            self.i += 1
            return -self.factor()
        if tok == "(":
            self.i += 1
            value = self.expr()
            if self.peek() != ")":
                raise ArithmeticParseError("missing ')'")
            self.i += 1
            return value
        return self.number()

    def number(self) -> Fraction:
        tok = self.peek()
        if tok is not None and tok[0].isdigit():
            self.i += 1
            return _check(Fraction(tok))
        if tok is None or not _is_number_word(tok):
            raise ArithmeticParseError(f"expected a number, got {tok!r}")
        total = current = 0
        while (tok := self.peek()) is not None and _is_number_word(tok):
            if tok in _UNITS:
                current += _UNITS[tok]
            elif tok in _TENS:
                current += _TENS[tok]
            elif tok == "hundred":
                current = max(current, 1) * 100
            else:
                total += max(current, 1) * _SCALES[tok]
                current = 0
            self.i += 1
        return Fraction(total + current)


def _check(value: Fraction) -> Fraction:
    if abs(value) > _MAX_MAGNITUDE:
        raise ArithmeticParseError("number too large")
    return value


def evaluate(text: str) -> Fraction:
    """Evaluate an arithmetic question exactly; raise ArithmeticParseError otherwise."""
    return _Parser(_tokens(text)).parse()


def find_expression(text: str) -> bool:
    """Whether ``text`` looks like an arithmetic question (an operator between numbers)."""
    try:
        toks = _tokens(text)
    except ArithmeticParseError:
        return False
    has_op = any(_OPS.get(t) in ("*", "/") or t in ("+", "plus", "minus", "-") for t in toks)
    has_num = any(t[0].isdigit() or _is_number_word(t) for t in toks)
    return has_op and has_num


def format_number(value: Fraction) -> str:
    """Integers as integers, anything else rounded to at most four decimals."""
    if value.denominator == 1:
        return str(value.numerator)
    rounded = round(float(value), 4)
    if math.isclose(rounded, round(rounded)):
        return str(round(rounded))
    return f"{rounded:.4f}".rstrip("0").rstrip(".")
