"""What a reconnect must send again: the replay log of a Gemini Live session.

A resumption handle restores the server's state as it was when the handle was made.
Whatever the client sent after that point is missing from the restored state, so it must
be sent again on the new connection, in the original order, ahead of anything new.

The log keeps every message released to the wire until a handle is known to cover it,
and a hold queue keeps messages made while no connection is ready.  Both are bounded by
``max_audio_bytes``: past it the oldest audio is dropped and counted, because a session
that was down for minutes must not grow without limit.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

__all__ = ["Outgoing", "ReplayLog"]


@dataclass(slots=True)
class Outgoing:
    """One client message: its JSON text, its audio size, and whether it is realtime input
    (audio or activity signals: safe to send twice, unlike a text turn or a tool result)."""

    text: str
    audio_bytes: int = 0
    realtime: bool = False
    index: int = -1
    at: float = 0.0


class ReplayLog:
    """Messages that no resumption handle covers yet, plus messages waiting to be sent."""

    def __init__(self, max_audio_bytes: int, *, enabled: bool = True) -> None:
        self.max_audio_bytes = max_audio_bytes
        self.enabled = enabled
        self.dropped_audio_bytes = 0
        self._log: deque[Outgoing] = deque()
        self._held: deque[Outgoing] = deque()
        self._next_index = 0
        self._audio = 0  # running total of audio in the log and the hold queue

    @property
    def holding(self) -> bool:
        return bool(self._held)

    @property
    def audio_bytes(self) -> int:
        """Audio kept for a possible replay, sent or held."""
        return self._audio

    @property
    def sent_audio_bytes(self) -> int:
        """Audio written to the current connection that no handle is known to cover."""
        return sum(m.audio_bytes for m in self._log)

    def new_connection(self) -> None:
        """Everything uncovered goes back to the front of the hold queue, in order; the
        new connection numbers messages from 1 (its setup is message 0)."""
        self._held.extendleft(reversed(self._log))
        self._log.clear()
        self._next_index = 1

    def hold(self, message: Outgoing) -> None:
        self._held.append(message)
        self._audio += message.audio_bytes
        self._trim()

    def take_held(self) -> list[Outgoing]:
        """Empty the hold queue; the caller releases each message in turn."""
        held = list(self._held)
        self._held.clear()
        self._audio -= sum(m.audio_bytes for m in held)
        return held

    def release(self, message: Outgoing, now: float) -> str:
        """Number ``message`` as the next one on the wire and remember it.

        ``now`` is when it is written to *this* connection: what a later handle on this
        connection can have seen depends on that moment, not on when the message was first
        made (a replayed message is new to the new connection).
        """
        message.index = self._next_index
        message.at = now
        self._next_index += 1
        if self.enabled:
            self._log.append(message)
            self._audio += message.audio_bytes
            self._trim()
        return message.text

    def covered_through(self, index: int) -> None:
        """The server says it consumed every message up to ``index`` (transparent mode)."""
        while self._log and self._log[0].index <= index:
            self._audio -= self._log.popleft().audio_bytes

    def covered_before(self, horizon: float) -> None:
        """A handle arrived with no index: what was sent before ``horizon`` is covered.

        Messages sent since may or may not be covered.  Realtime input among them is kept,
        since audio sent twice is better than audio lost.  Text turns and tool results are
        dropped, since sending one of them twice makes the model answer twice.
        """
        while self._log and self._log[0].at < horizon:
            self._audio -= self._log.popleft().audio_bytes
        self._log = deque(m for m in self._log if m.realtime)  # non-realtime carry no audio

    def _trim(self) -> None:
        for queue in (self._log, self._held):
            while self._audio > self.max_audio_bytes:
                victim = next((m for m in queue if m.audio_bytes), None)
                if victim is None:
                    break
                queue.remove(victim)  # the oldest audio: near the front, so cheap
                self._audio -= victim.audio_bytes
                self.dropped_audio_bytes += victim.audio_bytes
