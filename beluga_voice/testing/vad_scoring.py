"""Scoring a VAD against labelled segments: segment F1 and onset / offset errors.

A detected segment and a true one *match* when they overlap; matching is one to one and
greedy in time order, so a detector that merges two sentences into one segment loses a
match (a miss) and one that splits a sentence gains an unmatched segment (a false alarm).

For matched pairs, the onset error is ``|detected start - true start|`` using the
detector's back-dated speech start, and the offset error is the *latency* of the stop
decision, ``stopped_at - true end``, which includes the ``stop_secs`` the state machine
waits on purpose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..audio.vad import Analyzer, SpeechSegment, VADParams, detect_speech
from .speech_corpus import LabelledClip

__all__ = ["VADScore", "score_clip", "score_segments"]


@dataclass(frozen=True, slots=True)
class VADScore:
    """Counts and mean errors (milliseconds) over one or more clips."""

    matched: int
    detected: int
    truth: int
    onset_err_ms: float
    offset_err_ms: float

    @property
    def precision(self) -> float:
        return self.matched / self.detected if self.detected else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.truth if self.truth else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @staticmethod
    def combine(scores: Sequence[VADScore]) -> VADScore:
        m = sum(s.matched for s in scores)

        def mean(attr: str) -> float:
            if not m:
                return float("nan")
            return sum(getattr(s, attr) * s.matched for s in scores if s.matched) / m

        return VADScore(
            m,
            sum(s.detected for s in scores),
            sum(s.truth for s in scores),
            mean("onset_err_ms"),
            mean("offset_err_ms"),
        )


def score_segments(
    detected: Sequence[SpeechSegment], truth: Sequence[tuple[float, float]]
) -> VADScore:
    """Match ``detected`` to ``truth`` (see the module docstring) and score them."""
    used = [False] * len(truth)
    onsets: list[float] = []
    offsets: list[float] = []
    for seg in detected:
        for i, (a, b) in enumerate(truth):
            if not used[i] and seg.start < b and seg.end > a:
                used[i] = True
                onsets.append(abs(seg.start - a) * 1000.0)
                offsets.append((seg.stopped_at - b) * 1000.0)
                break
    n = len(onsets)
    return VADScore(
        n,
        len(detected),
        len(truth),
        sum(onsets) / n if n else float("nan"),
        sum(offsets) / n if n else float("nan"),
    )


def score_clip(
    clip: LabelledClip, analyzer: Analyzer | None = None, params: VADParams | None = None
) -> VADScore:
    """Run the VAD over ``clip`` in 20 ms chunks and score it."""
    found = detect_speech(clip.pcm, clip.sample_rate, analyzer=analyzer, params=params)
    return score_segments(found, clip.segments)
