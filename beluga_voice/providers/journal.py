"""The replay journal: user audio not answered yet, and streaming rate conversion.

See :mod:`.replay` for what "answered" means.  Offsets are absolute byte counts since
the session started, so that acknowledgements from successive provider sessions (each
counting from its own start) can be mapped onto one timeline.
"""

from __future__ import annotations

import warnings
from collections import deque

from ..audio.resample import StreamResampler

__all__ = ["AudioJournal", "Resampler"]


class AudioJournal:
    """User audio that no provider has answered yet, addressed by absolute byte offsets.

    ``total`` counts every byte ever appended; ``acked`` is the offset up to which a
    provider answered.  The ring holds at most ``max_bytes``: beyond that the oldest
    unanswered audio is dropped (and counted in ``lost_bytes``) rather than growing
    without bound during a long outage.
    """

    __slots__ = ("_chunks", "_held", "acked", "lost_bytes", "max_bytes", "total")

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 2:
            raise ValueError(f"max_bytes must be at least 2, got {max_bytes}")
        self.max_bytes = max_bytes
        self._chunks: deque[tuple[int, bytes]] = deque()
        self._held = 0
        self.total = 0
        self.acked = 0
        self.lost_bytes = 0

    def append(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._chunks.append((self.total, chunk))
        self.total += len(chunk)
        self._held += len(chunk)
        while self._held > self.max_bytes and len(self._chunks) > 1:
            start, old = self._chunks.popleft()
            self._held -= len(old)
            end = start + len(old)
            if end > self.acked:
                self.lost_bytes += end - max(start, self.acked)
                self.acked = end

    def acknowledge(self, offset: int) -> None:
        """Mark everything before ``offset`` as answered (offsets only move forward)."""
        offset = min(offset, self.total)
        offset -= offset % 2  # never split a PCM16 sample
        if offset <= self.acked:
            return
        self.acked = offset
        while self._chunks and self._chunks[0][0] + len(self._chunks[0][1]) <= offset:
            _, old = self._chunks.popleft()
            self._held -= len(old)

    def pending(self, start: int | None = None) -> list[bytes]:
        """The unanswered audio, in order, starting exactly at ``acked`` (or at ``start``,
        when a later offset: what a resumed session already holds is not sent again)."""
        begin = self.acked if start is None else max(self.acked, start)
        out: list[bytes] = []
        for first, chunk in self._chunks:
            end = first + len(chunk)
            if end <= begin:
                continue
            out.append(chunk[begin - first :] if first < begin else chunk)
        return out

    @property
    def pending_bytes(self) -> int:
        return self.total - self.acked


class Resampler(StreamResampler):
    """Deprecated: use :class:`beluga_voice.audio.resample.StreamResampler` (``process``).

    Kept for one release: the fallback's own soxr stream became the package's one
    resampler, which gives the same output (up to soxr's random dither).
    """

    def __init__(self, in_rate: int, out_rate: int) -> None:
        warnings.warn(
            "beluga_voice.providers.journal.Resampler is deprecated; use "
            "beluga_voice.audio.resample.StreamResampler(...).process",
            DeprecationWarning,
            stacklevel=2,
        )
        super().__init__(in_rate, out_rate)

    def __call__(self, pcm: bytes) -> bytes:
        return self.process(pcm)
