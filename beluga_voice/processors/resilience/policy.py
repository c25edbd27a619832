"""The settings of the wrapping processors, and the journal of the turn in progress."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from ...frames import (
    AudioFrame,
    Frame,
    FrameKind,
    ResponseEndFrame,
    SpeakFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    UserTurnEndedFrame,
)
from ...providers.config import S2SConfig

__all__ = ["FrameJournal", "ResiliencePolicy", "is_turn_done", "is_turn_end"]


def is_turn_done(frame: Frame) -> bool:
    """Default: the wrapped processor finished a unit of work when it pushes the end of a
    reply (agent, TTS, S2S) or a final user transcription (STT)."""
    return isinstance(frame, ResponseEndFrame) or (
        isinstance(frame, TranscriptionFrame) and frame.final and frame.role == "user"
    )


def is_turn_end(frame: Frame) -> bool:
    """Default: an input after which a reply is due (the latency clock starts)."""
    return isinstance(
        frame, UserStoppedSpeakingFrame | UserTurnEndedFrame | SpeakFrame | ResponseEndFrame
    ) or (isinstance(frame, TranscriptionFrame) and frame.final and frame.role == "user")


@dataclass(frozen=True, slots=True)
class ResiliencePolicy:
    """How :class:`~.Retry` and :class:`~.Fallback` react.  :meth:`from_config` takes the
    numbers from an :class:`S2SConfig`, so that processors and providers follow one policy.

    * ``max_retries``, ``retry_delay``, ``retry_backoff``: the one
      :class:`~beluga_voice.providers.retry.Backoff` (full jitter);
    * ``first_reply_timeout``: seconds from the end of a turn's input to the first reply
      frame (None: no latency switch); ``stall_timeout``: seconds without a reply frame
      once a reply started (None: off);
    * ``probe_cooldown``, ``failure_threshold``, ``breaker_cooldown``: recovery probes and
      the circuit breaker per wrapped processor (fallback);
    * ``replay_cut_reply_under``: a reply cut by a failure after less than this many
      seconds of its audio went out is answered again from the start; beyond, the app gets
      a ``reply_cut`` error (never a silent cut);
    * ``journal_bytes`` / ``journal_frames``: bound of the turn journal (oldest dropped,
      counted in ``FrameJournal.lost_frames``);
    * ``turn_done`` / ``turn_end``: what ends a unit of work and what starts the latency
      clock (see :func:`is_turn_done`, :func:`is_turn_end`).
    """

    max_retries: int = 3
    retry_delay: float = 1.0
    retry_backoff: float = 2.0
    first_reply_timeout: float | None = None
    stall_timeout: float | None = None
    probe_cooldown: float = 10.0
    failure_threshold: int = 3
    breaker_cooldown: float = 30.0
    replay_cut_reply_under: float = 1.0
    journal_bytes: int = 30 * 48000 * 2
    journal_frames: int = 2000
    turn_done: Callable[[Frame], bool] = is_turn_done
    turn_end: Callable[[Frame], bool] = is_turn_end

    @classmethod
    def from_config(cls, config: S2SConfig, **overrides: object) -> ResiliencePolicy:
        policy = cls(
            max_retries=config.max_retries,
            retry_delay=config.retry_delay,
            retry_backoff=config.retry_backoff,
            first_reply_timeout=config.latency_budget,
            replay_cut_reply_under=config.replay_cut_reply_under,
        )
        return replace(policy, **overrides)  # type: ignore[arg-type]

    def config_for(self, config: S2SConfig) -> S2SConfig:
        """``config`` with this policy's retry numbers (for the provider wrappers)."""
        return config.model_copy(
            update={
                "max_retries": self.max_retries,
                "retry_delay": self.retry_delay,
                "retry_backoff": self.retry_backoff,
                "replay_cut_reply_under": self.replay_cut_reply_under,
            }
        )


_JOURNALED_SYSTEM = (UserStartedSpeakingFrame, UserStoppedSpeakingFrame)


class FrameJournal:
    """The input frames of the unit of work in progress, to be replayed after a failure.

    The same policy as :class:`~beluga_voice.providers.journal.AudioJournal` one level up:
    a bounded ring (``max_bytes`` of audio payload, ``max_frames`` frames), the oldest
    dropped first and counted in ``lost_frames`` rather than growing during an outage.
    Lifecycle and signalling frames are not work and are not kept.
    """

    __slots__ = ("_bytes", "_frames", "_ids", "lost_frames", "max_bytes", "max_frames")

    def __init__(self, max_bytes: int, max_frames: int) -> None:
        self.max_bytes = max_bytes
        self.max_frames = max_frames
        self._frames: deque[Frame] = deque()
        self._ids: set[int] = set()
        self._bytes = 0
        self.lost_frames = 0

    @staticmethod
    def keeps(frame: Frame) -> bool:
        return frame.kind is not FrameKind.SYSTEM or isinstance(frame, _JOURNALED_SYSTEM)

    def append(self, frame: Frame) -> None:
        self._frames.append(frame)
        self._ids.add(id(frame))
        if isinstance(frame, AudioFrame):
            self._bytes += len(frame.audio)
        while len(self._frames) > 1 and (
            self._bytes > self.max_bytes or len(self._frames) > self.max_frames
        ):
            self._drop(self._frames.popleft())
            self.lost_frames += 1

    def _drop(self, frame: Frame) -> None:
        self._ids.discard(id(frame))
        if isinstance(frame, AudioFrame):
            self._bytes -= len(frame.audio)

    def __contains__(self, frame: Frame) -> bool:
        """Is ``frame`` (this very object) one of the journaled inputs?"""
        return id(frame) in self._ids

    def __iter__(self) -> Iterator[Frame]:
        return iter(list(self._frames))

    def __len__(self) -> int:
        return len(self._frames)

    def clear(self) -> None:
        self._frames.clear()
        self._ids.clear()
        self._bytes = 0

    def has_work(self) -> bool:
        """Anything besides speech signalling (a turn is in progress)?"""
        return any(not isinstance(f, _JOURNALED_SYSTEM) for f in self._frames)
