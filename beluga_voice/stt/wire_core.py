"""The sans-I/O side of the WebSocket recognition services: what a service's core must
answer (:class:`WireCore`), the shell's settings (:class:`WireOptions`), and the audio
kept for a replay (:class:`Unanswered`).  No sockets and no clocks here: the shell that
does the I/O is :mod:`beluga_voice.stt.wire`.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..errors import ErrorCode, S2SError, code_from_ws_close
from .base import STTResult

__all__ = ["OpenUtterance", "Outgoing", "Unanswered", "WireCore", "WireOptions", "parse_message"]

Outgoing = str | bytes
"""A WebSocket message: text (JSON control) or binary (audio)."""


@dataclass(frozen=True, slots=True)
class WireOptions:
    """The shell's deadlines and limits (see the module docstring)."""

    connect_timeout: float = 10.0
    finalize_timeout: float = 3.0
    keepalive_s: float | None = 4.0
    reconnects: int = 2
    replay_s: float = 30.0


def parse_message(text: str, service: str) -> dict[str, Any] | None:
    """A service's JSON message as a dict (None: valid JSON of another shape, ignored);
    text that is not JSON is a ``malformed_response``."""
    try:
        data = json.loads(text)
    except ValueError:
        raise S2SError(
            "receive", ErrorCode.MALFORMED_RESPONSE, f"{service}: a message is not JSON"
        ) from None
    return data if isinstance(data, dict) else None


class OpenUtterance:
    """The utterance being recognised, for services that finish it in pieces (Deepgram's
    finalized segments, AssemblyAI's turns): the finished pieces' text, the open piece's,
    the audio sent for it, and whether the service said anything about it."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.finals: list[str] = []
        self.interim = ""
        self.bytes = 0
        self.heard = False

    @property
    def empty(self) -> bool:
        """No audio and no text: its final is the empty transcript, at once."""
        return not self.bytes and not self.finals and not self.interim

    @property
    def audio_ms(self) -> float:
        return 1000.0 * self.bytes / (2 * self.sample_rate)

    def partial(self) -> STTResult:
        words = [*self.finals, self.interim] if self.interim else self.finals
        return STTResult(" ".join(words), final=False, audio_ms=self.audio_ms)

    def complete(self) -> STTResult:
        """The final result (the pieces joined); the next utterance starts empty."""
        result = STTResult(" ".join(self.finals), final=True, audio_ms=self.audio_ms)
        self.clear()
        return result

    def overdue(self, service: str) -> STTResult:
        """The final did not come in time: the pieces so far, the open one included, or
        ``stream_timeout`` when the service said nothing about this utterance."""
        if not self.heard:
            raise S2SError(
                "finalize",
                ErrorCode.STREAM_TIMEOUT,
                f"{service}: no transcript for the utterance in time",
            )
        if self.interim:
            self.finals.append(self.interim)
        return self.complete()

    def clear(self) -> None:
        self.finals = []
        self.interim = ""
        self.bytes = 0
        self.heard = False


class WireCore(ABC):
    """The sans-I/O protocol of one service: no sockets, no clocks, testable alone."""

    service: str
    sample_rate: int

    @abstractmethod
    def url(self) -> str:
        """The WebSocket URL with its query."""

    @abstractmethod
    def headers(self) -> dict[str, str]:
        """Handshake headers (the credentials)."""

    def opening(self) -> list[Outgoing]:
        """Messages sent first on every new connection (a session setup)."""
        return []

    @abstractmethod
    def audio(self, pcm: bytes) -> list[Outgoing]:
        """Messages carrying ``pcm`` (the core counts the audio it sent)."""

    @abstractmethod
    def finalize(self) -> tuple[list[Outgoing], STTResult | None]:
        """End the utterance: messages to send, or the final result at once (no audio)."""

    @abstractmethod
    def reset(self) -> list[Outgoing]:
        """Drop the utterance; results for its audio are not reported any more."""

    @abstractmethod
    def keepalive(self) -> list[Outgoing]:
        """What keeps an idle connection open (empty: nothing needed)."""

    def closing(self) -> list[Outgoing]:
        """Sent before a close we asked for (the service flushes and says goodbye)."""
        return []

    def close_code(self, code: int | None) -> ErrorCode:
        """What a close frame's ``code`` means (a service with close codes of its own,
        such as AssemblyAI's 3005-3009, overrides it); it decides whether the shell
        reconnects."""
        return code_from_ws_close(code)

    @abstractmethod
    def receive(self, text: str) -> list[STTResult]:
        """Results from a received text message; raises S2SError for a service error."""

    @abstractmethod
    def reconnected(self) -> None:
        """A new connection: the service's timeline restarts; the utterance is replayed."""

    @abstractmethod
    def expire(self) -> STTResult:
        """The final result did not come in time: the best final the core can give, or
        raise S2SError(stream_timeout)."""


@dataclass
class _Utterance:
    chunks: list[bytes] = field(default_factory=list)
    lost: bool = False
    """Its oldest audio was dropped (past the bound): it cannot be replayed."""


class Unanswered:
    """The audio of the utterances whose final result has not come yet, kept for a
    replay: the last one is open, the others are finalized and await their finals.
    Bounded by ``limit`` bytes in all: past it the oldest audio goes, and an utterance
    that lost audio can no longer be replayed (a drop then fails the stream)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.utterances: deque[_Utterance] = deque([_Utterance()])
        self.size = 0

    @property
    def waiting(self) -> int:
        """Finalized utterances awaiting their final result."""
        return len(self.utterances) - 1

    @property
    def lost(self) -> bool:
        return any(u.lost for u in self.utterances)

    def add(self, pcm: bytes) -> None:
        self.utterances[-1].chunks.append(pcm)
        self.size += len(pcm)
        for utterance in self.utterances:
            while self.size > self.limit and utterance.chunks:
                self.size -= len(utterance.chunks.pop(0))
                utterance.lost = True

    def close_open(self) -> None:
        self.utterances.append(_Utterance())

    def drop_open(self) -> None:
        self.size -= sum(len(c) for c in self.utterances[-1].chunks)
        self.utterances[-1] = _Utterance()

    def answered(self) -> None:
        if len(self.utterances) > 1:
            self.size -= sum(len(c) for c in self.utterances.popleft().chunks)
