"""Who is speaking: replies found in the output audio, user turns in the transcripts.

GPT-Live is full duplex and model-controlled: there is no "response started/done",
no "speech started/stopped" and no transcript "done" on the wire, and the model streams
digital silence while it listens.  Our event API has those notions, so they are derived:

- a **reply** starts with the first output audio louder than ``silence_level`` and ends
  after ``reply_end_silence_ms`` of quieter audio (counted in samples, so it is exact and
  needs no clock), or when the shell reports that output audio stopped altogether;
- a **user turn** starts with the first input transcript fragment after a pause and ends
  when the assistant starts a reply, a delegation is created, or the next fragment
  starts ``user_turn_gap_ms`` later on the session timeline.

Both trackers are plain state machines fed by the protocol core; they never touch a
socket or a clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Reply", "ReplyTracker", "UserTurn", "UserTurns", "is_silent"]


def is_silent(pcm: bytes, level: int) -> bool:
    """True when no PCM16 sample's magnitude exceeds ``level``."""
    if not pcm:
        return True
    samples = np.frombuffer(pcm, dtype="<i2")
    return int(np.abs(samples.astype(np.int32)).max()) <= level


@dataclass(slots=True)
class Reply:
    """One assistant reply: its number, audio length so far and transcript so far."""

    number: int
    audio_ms: float = 0.0
    text: str = ""
    overlapped: bool = False
    """The user spoke while this reply was playing (a yield may follow)."""

    @property
    def response_id(self) -> str:
        return f"live_reply_{self.number}"


class ReplyTracker:
    """Segments the continuous output audio stream into replies (see the module doc)."""

    def __init__(self, sample_rate: int, *, end_silence_ms: int, silence_level: int) -> None:
        self.sample_rate = sample_rate
        self.end_silence_ms = float(end_silence_ms)
        self.silence_level = silence_level
        self.current: Reply | None = None
        self.count = 0
        self._quiet_ms = 0.0

    def audio(self, pcm: bytes) -> tuple[bool, bool, bool]:
        """Account for one output chunk: ``(started, emit, ended)``.

        ``started``: this chunk opens a reply; ``emit``: it belongs to a reply and should be
        played (silence between replies is dropped); ``ended``: the reply is over after it.
        """
        ms = 1000.0 * (len(pcm) // 2) / self.sample_rate
        silent = is_silent(pcm, self.silence_level)
        if self.current is None:
            if silent:
                return False, False, False
            self.count += 1
            self.current = Reply(self.count)
            self.current.audio_ms = ms
            self._quiet_ms = 0.0
            return True, True, False
        self.current.audio_ms += ms
        self._quiet_ms = self._quiet_ms + ms if silent else 0.0
        return False, True, self._quiet_ms >= self.end_silence_ms

    def transcript(self, delta: str) -> Reply | None:
        """Add assistant transcript text to the live reply (None when none is live)."""
        if self.current is not None:
            self.current.text += delta
        return self.current

    def finish(self) -> Reply | None:
        """End the live reply (if any) and return it.  Its ``audio_ms`` leaves out the
        trailing silence that ended it, so that a played position maps onto its words."""
        reply, self.current = self.current, None
        if reply is not None:
            reply.audio_ms = max(0.0, reply.audio_ms - self._quiet_ms)
        self._quiet_ms = 0.0
        return reply


@dataclass(slots=True)
class UserTurn:
    start_ms: int
    end_ms: int
    text: str = ""
    announced: bool = False
    """A SpeechStarted was emitted for it (so a SpeechStopped is owed)."""


@dataclass(slots=True)
class UserTurns:
    """Assembles input transcript fragments into user turns (see the module doc)."""

    gap_ms: int
    current: UserTurn | None = None
    last_text: str = ""

    def fragment(self, delta: str, start_ms: int, end_ms: int) -> tuple[UserTurn | None, UserTurn]:
        """Add a fragment; returns ``(finished turn or None, current turn)``."""
        finished = None
        cur = self.current
        if cur is not None and start_ms - cur.end_ms >= self.gap_ms:
            finished = self.finish()
            cur = None
        if cur is None:
            cur = self.current = UserTurn(start_ms, end_ms)
        cur.text += delta
        cur.end_ms = max(cur.end_ms, end_ms)
        return finished, cur

    def finish(self) -> UserTurn | None:
        """Close the open turn (if any) and return it."""
        turn, self.current = self.current, None
        if turn is not None and turn.text.strip():
            self.last_text = turn.text.strip()
        return turn

    def take_task(self) -> str:
        """The task of a delegation: the user's last turn.

        A delegation carries no task text, only an id and a time; the request it serves
        is what the user said last (the agent also gets the whole history as context).
        """
        return self.last_text
