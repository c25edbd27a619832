"""What a scripted caller observed: one :class:`Turn` per line, one :class:`Reply` per answer.

The attributes read like the domain so that assertions do too::

    assert turn.reply.mentions("5")
    assert turn.reply.first_audio_ms < 800
    assert turn.interrupted
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Reply", "Turn", "spell_number"]

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def spell_number(n: int) -> str | None:
    """English words for 0..999 (``36`` -> ``thirty six``), None outside that range."""
    if not 0 <= n <= 999:
        return None
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens - 2] + (f" {_ONES[ones]}" if ones else "")
    hundreds, rest = divmod(n, 100)
    tail = spell_number(rest) if rest else None
    return f"{_ONES[hundreds]} hundred" + (f" {tail}" if tail else "")


_SPELLED: dict[str, str] = {}


def _spelled() -> dict[str, str]:
    if not _SPELLED:
        for n in range(1000):
            words = spell_number(n)
            if words:
                _SPELLED[words] = str(n)
    return _SPELLED


def _normalise(text: str) -> str:
    """Lower-case words, spelled numbers (up to 999) as digits: "Thirty-six" -> "36"."""
    words = re.findall(r"[a-z0-9']+", text.lower().replace("-", " "))
    spelled = _spelled()
    out: list[str] = []
    i = 0
    while i < len(words):
        for size in (5, 4, 3, 2, 1):
            phrase = " ".join(words[i : i + size])
            if len(words) - i >= size and phrase in spelled:
                out.append(spelled[phrase])
                i += size
                break
        else:
            out.append(words[i])
            i += 1
    return " ".join(out)


@dataclass
class Reply:
    """One answer of the agent, as the caller heard it.

    ``first_audio_ms`` is measured from the end of the caller's speech to the reply's
    first audio, on the caller's clock.  ``played_ms`` is how much of the reply the
    caller's loudspeaker played; ``interrupted`` is True when the reply stopped before
    all of it was played (a barge-in, or the agent cutting itself short).
    """

    sample_rate: int = 24000
    started_ms: float = 0.0
    first_audio_ms: float | None = None
    audio: bytes = b""
    played_ms: float = 0.0
    done: bool = False
    interrupted: bool = False
    finals: list[str] = field(default_factory=list)
    interims: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The agent's transcript of the reply (final parts, else the interim ones)."""
        if self.finals:
            return " ".join(t.strip() for t in self.finals if t.strip())
        return "".join(self.interims).strip()

    @property
    def duration_ms(self) -> float:
        return 1000.0 * len(self.audio) / (2 * self.sample_rate)

    def mentions(self, *words: str) -> bool:
        """True when the reply's text contains every one of ``words`` (whole words, any
        case; numbers match in digits or spelled out: ``"5"`` matches "five")."""
        text = f" {_normalise(self.text)} "
        return all(f" {_normalise(word)} " in text for word in words)

    def __str__(self) -> str:
        cut = ", interrupted" if self.interrupted else ""
        first = f"{self.first_audio_ms:.0f} ms" if self.first_audio_ms is not None else "-"
        return f"{self.text!r} ({self.duration_ms:.0f} ms of audio, first audio {first}{cut})"


@dataclass
class Turn:
    """One line of the caller and what came of it.

    ``transcript`` is what the agent understood (its final user transcripts during the
    turn); ``reply`` the first answer after the line (None: no answer came), ``replies``
    every answer.  ``timed_out`` is True when no answer came within the caller's
    ``reply_timeout_ms`` (or one never ended within ``max_turn_ms``).
    """

    text: str
    started_ms: float = 0.0
    end_of_speech_ms: float = 0.0
    speech_ms: float = 0.0
    transcripts: list[str] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    timed_out: bool = False
    barge_in_after_ms: float | None = None

    @property
    def transcript(self) -> str:
        return " ".join(self.transcripts)

    @property
    def reply(self) -> Reply:
        """The answer to this line; an empty reply when none came (so assertions on it
        fail with a readable message rather than an AttributeError)."""
        return self.replies[0] if self.replies else Reply()

    @property
    def interrupted(self) -> bool:
        """The answer to this line was cut before it had all been played."""
        return any(r.interrupted for r in self.replies)

    @property
    def first_audio_ms(self) -> float | None:
        return self.reply.first_audio_ms

    def __str__(self) -> str:
        heard = f" (heard {self.transcript!r})" if self.transcripts else ""
        reply = str(self.reply) if self.replies else "no reply"
        return f"{self.text!r}{heard} -> {reply}"
