"""Barge-in arithmetic: which assistant audio the user heard, and where to cut it.

The server remembers every word of its reply, but a user who interrupts heard only part
of it.  ``conversation.item.truncate`` tells the server where the user stopped hearing,
so that the model's memory matches the conversation the user actually had.  The output
transport reports ``played_ms`` from the start of the reply; a reply may span several
audio items, so the cut is found by walking the items in order.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AudioSegment", "ReplyAudio", "Truncation"]


@dataclass(slots=True)
class AudioSegment:
    """The audio of one content part of one assistant item, in arrival order."""

    item_id: str
    content_index: int
    start_ms: float
    duration_ms: float = 0.0

    @property
    def end_ms(self) -> float:
        return self.start_ms + self.duration_ms


@dataclass(frozen=True, slots=True)
class Truncation:
    item_id: str
    content_index: int
    audio_end_ms: int


class ReplyAudio:
    """Bookkeeping of one reply's audio, built from ``response.output_audio.delta``."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.segments: list[AudioSegment] = []

    @property
    def total_ms(self) -> float:
        return self.segments[-1].end_ms if self.segments else 0.0

    def add(self, item_id: str, content_index: int, nbytes: int) -> None:
        """Account for ``nbytes`` of PCM16 mono received for an item's content part."""
        ms = 1000.0 * (nbytes // 2) / self.sample_rate
        last = self.segments[-1] if self.segments else None
        if last is None or (last.item_id, last.content_index) != (item_id, content_index):
            last = AudioSegment(item_id, content_index, self.total_ms)
            self.segments.append(last)
        last.duration_ms += ms

    def truncations(self, played_ms: float) -> list[Truncation]:
        """Truncate events that make the server forget what was not heard.

        The segment being played when the user interrupted is cut at the offset reached
        inside it; later segments were not heard at all and are cut at 0.  Nothing is cut
        when everything was heard.  Offsets are whole milliseconds, rounded down so that
        the server never keeps audio the user did not hear.
        """
        played = max(0.0, played_ms)
        cuts: list[Truncation] = []
        for seg in self.segments:
            if played >= seg.end_ms:
                continue
            offset = max(0, int(played - seg.start_ms))
            cuts.append(Truncation(seg.item_id, seg.content_index, offset))
        return cuts

    def heard_fraction(self, item_id: str, played_ms: float) -> float:
        """Share of an item's audio that was heard (to trim its transcript)."""
        mine = [s for s in self.segments if s.item_id == item_id]
        total = sum(s.duration_ms for s in mine)
        if total <= 0:
            return 1.0
        heard = sum(min(max(played_ms - s.start_ms, 0.0), s.duration_ms) for s in mine)
        return heard / total
