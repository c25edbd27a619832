"""What text a reply's audio speaks when, so that a reply cut by barge-in knows what was heard.

A :class:`Timeline` holds pieces of text with the time span of audio that speaks them,
measured from the reply's first audio.  Services give pieces of different sizes:
ElevenLabs characters (exact), Cartesia words, and a service with no alignment at all
whole sentences, timed by their audio length.  :meth:`Timeline.heard` answers the same
way for all of them: every piece that started before the cut, and of a multi-word piece
cut in its middle, the share of its words proportional to the share of its audio played
(the estimate :func:`~beluga_voice.tts.sentences.heard_text` makes for the embedded voice).
A word whose first characters played but not its last is not counted as heard.
"""

from __future__ import annotations

__all__ = ["Timeline"]


class Timeline:
    """Pieces of a reply's text on its audio's clock (milliseconds from its first audio)."""

    __slots__ = ("_pieces", "audio_ms", "complete")

    def __init__(self) -> None:
        self._pieces: list[tuple[str, float, float]] = []
        self.audio_ms = 0.0
        """Audio received so far; services whose alignment is relative to each audio chunk
        add it as the chunk's offset."""
        self.complete = False
        """The reply's audio all arrived: no text lies beyond the last piece."""

    def add(self, text: str, start_ms: float, end_ms: float) -> None:
        """``text`` is spoken from ``start_ms`` to ``end_ms``."""
        if text:
            self._pieces.append((text, start_ms, max(start_ms, end_ms)))

    def add_audio(self, nbytes: int, sample_rate: int) -> float:
        """Count ``nbytes`` of PCM16 audio; returns where it starts (its offset)."""
        offset = self.audio_ms
        self.audio_ms += 1000.0 * nbytes / (2 * sample_rate)
        return offset

    @property
    def text(self) -> str:
        """All the text the timeline holds, spaces normalised."""
        return " ".join("".join(p[0] for p in self._pieces).split())

    def __len__(self) -> int:
        return len(self._pieces)

    def heard(self, played_ms: float) -> str:
        """The text a listener heard when playback stopped after ``played_ms``; a cut
        inside the text is marked with an ellipsis."""
        out: list[str] = []
        cut = False
        for text, start, end in self._pieces:
            if start >= played_ms:
                cut = True
                if out and not text[:1].isspace() and not out[-1][-1:].isspace():
                    _drop_partial_word(out)  # the cut fell inside a word: not heard
                break
            if end <= played_ms or not text.strip() or len(text.split()) == 1:
                out.append(text)
                continue
            words = text.split()
            keep = int(len(words) * (played_ms - start) / (end - start))
            lead = " " if text[:1].isspace() else ""
            out.append(lead + " ".join(words[:keep]))
            cut = True
            break
        heard = " ".join("".join(out).split())
        if (cut or not self.complete) and heard:
            return heard.rstrip(",;:") + "..."
        return heard


def _drop_partial_word(out: list[str]) -> None:
    """Remove the characters of the last, unfinished word from the pieces in ``out``."""
    while out:
        last = out.pop()
        space = max(last.rfind(" "), last.rfind("\n"), last.rfind("\t"))
        if space >= 0:
            out.append(last[: space + 1])
            return
