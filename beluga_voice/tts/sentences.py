"""Sentence aggregation: turn a stream of text pieces into speakable sentences.

Agents stream replies a few tokens at a time, while a voice sounds right only when it is
given whole sentences (intonation depends on where the sentence ends).  The aggregator
holds text until a sentence boundary, so the first sentence can be voiced while the
rest of the reply is still being written, which is what keeps a cascade's first audio
early.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["SentenceAggregator", "heard_text", "split_sentences"]

# A boundary: terminal punctuation (optionally closed by quotes or brackets), then space.
_BOUNDARY = re.compile(r"[.!?\u2026]+[\"')\]]*\s+|\n\s*")
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "e.g", "i.e", "fig", "approx"}
)


def _is_abbreviation(text: str, end: int) -> bool:
    """Whether the period ending at ``end`` closes an abbreviation such as "Dr."."""
    if text[end - 1] != ".":
        return False
    start = end - 1
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    word = text[start : end - 1].lower().strip("(\"'")
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


class SentenceAggregator:
    """Feed text pieces with :meth:`push`; get complete sentences back; :meth:`flush` the
    rest at the end of the reply.

    ``max_chars`` bounds the wait for a boundary: a longer run of text without one is cut
    at its last comma or space, so an agent that never punctuates still gets spoken.
    """

    def __init__(self, max_chars: int = 240) -> None:
        if max_chars < 16:
            raise ValueError("max_chars must be at least 16")
        self.max_chars = max_chars
        self._buf = ""

    @property
    def pending(self) -> str:
        return self._buf

    def push(self, text: str) -> list[str]:
        self._buf += text
        out: list[str] = []
        pos = 0
        for match in _BOUNDARY.finditer(self._buf):
            end = match.end()
            punct_end = match.start() + len(match.group().rstrip())
            if punct_end and _is_abbreviation(self._buf, punct_end):
                continue
            out += self._cut(self._buf[pos:end], final=True)
            pos = end
        self._buf = self._buf[pos:]
        if len(self._buf) > self.max_chars:
            pieces = self._cut(self._buf, final=False)
            out += pieces[:-1]
            self._buf = pieces[-1] if pieces else ""
        return out

    def _cut(self, text: str, *, final: bool) -> list[str]:
        """Split ``text`` into stripped pieces of at most ``max_chars``, preferring to cut
        after a comma, then at a space.  Unless ``final``, the last piece is the uncut rest
        (which may still grow), returned unstripped on the left only."""
        out: list[str] = []
        text = text.lstrip()
        while len(text) > self.max_chars:
            cut = text.rfind(",", 0, self.max_chars) + 1 or text.rfind(" ", 0, self.max_chars)
            if cut <= 0:
                cut = self.max_chars
            piece, text = text[:cut].strip(), text[cut:].lstrip()
            if piece:
                out.append(piece)
        if final:
            text = text.strip()
            return [*out, text] if text else out
        return [*out, text]

    def flush(self) -> str | None:
        """The text left over (the last sentence of a reply), or None."""
        rest, self._buf = self._buf.strip(), ""
        return rest or None

    def clear(self) -> None:
        """Forget pending text (the reply was interrupted)."""
        self._buf = ""


def split_sentences(text: str, max_chars: int = 240) -> list[str]:
    """All sentences of a complete text."""
    agg = SentenceAggregator(max_chars)
    out = agg.push(text)
    rest = agg.flush()
    return [*out, rest] if rest else out


def heard_text(spoken: Sequence[tuple[str, float]], played_ms: float) -> str:
    """What a listener heard of a reply cut after ``played_ms`` of its audio.

    ``spoken`` lists the reply's sentences with their audio length in ms, in order.  Whole
    sentences that fit are kept; of the sentence being played, the share of its words
    proportional to the share of its audio that played, marked with an ellipsis.
    """
    heard: list[str] = []
    left = max(0.0, played_ms)
    for sentence, ms in spoken:
        if left >= ms:
            heard.append(sentence)
            left -= ms
            continue
        words = sentence.split()
        keep = round(len(words) * left / ms) if ms > 0 else 0
        if keep:
            heard.append(" ".join(words[:keep]) + "...")
        break
    return " ".join(heard)
