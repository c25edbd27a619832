"""Turn tracking for :class:`~beluga_voice.providers.resilient_session.ResilientSession`:
which user audio the provider has answered, so which must be replayed to a replacement.

**Acknowledged audio.**  A provider has *acknowledged* user audio once it has answered
it, which every provider shows the same way: the reply to that turn started playing
(first reply audio, or a tool call), or the reply completed.  The turn ends where the
provider's voice detector says speech stopped (``SpeechStopped.audio_end_ms``, mapped to
a byte offset of the audio this inner session received) or where the client called
``end_turn``.  Audio after that point belongs to the next turn and stays unacknowledged.
Everything not yet acknowledged sits in an :class:`AudioJournal` (a bounded ring) and is
sent again, in order, to whichever session replaces the current one.

**Never a silent cut.**  A reply counts as heard once ``replay_cut_reply_under`` seconds
of its audio went to the caller (``S2SConfig.replay_cut_reply_under``, 1 s by default).
A failure that cuts a reply earlier replays its turn: the caller gets ``Interrupted`` and
``ResponseDone("cancelled")`` (playback is flushed) and the replacement answers the turn
again in full.  A failure that cuts it later is told: a non-fatal ``SessionError`` with
code ``reply_cut`` and ``ResponseDone("incomplete")``; the turn is not answered twice.
``replay_started_turns=True`` replays every cut turn, however much was heard.

Why apart from ``resilient_session.py``: that module swaps inner sessions and forwards
the caller's operations; this is the bookkeeping that tells it what a swap must replay
and how to close the reply it cut.  :class:`TurnTracking` is the base of
``ResilientSession`` and of nothing else; its state is made by
``ResilientSession.__init__`` and declared here, where it is used.
"""

from __future__ import annotations

import anyio

from .errors import ErrorCode, S2SError
from .events import (
    AudioChunk,
    Interrupted,
    ResponseDone,
    ResponseStarted,
    SessionError,
    SessionEvent,
    SpeechStarted,
    SpeechStopped,
    ToolCall,
)
from .journal import AudioJournal
from .streaming_session import StreamingSession

__all__ = ["TurnTracking"]


class TurnTracking(StreamingSession):
    """What :class:`~beluga_voice.providers.resilient_session.ResilientSession` knows of
    the conversation's turns.  See the module docstring: the base of ``ResilientSession``
    only."""

    # The state, made by ResilientSession.__init__ (see there for what each holds).
    journal: AudioJournal
    replay_started_turns: bool
    replay_cut_reply_under: float
    _reply_heard_ms: float
    _bytes_per_ms: float
    _inner_base: int
    _turn_end: int | None
    _turn_end_at: float | None
    _user_speaking: bool
    _reply_id: str | None
    _reply_open: bool
    _reply_playing: bool
    _reply_offset: int | None
    _asks: list[tuple[str, str]]

    def _end_cut_reply(self, reason: str) -> list[SessionEvent]:
        """The inner session is being replaced: the events closing the reply it cut (see
        "Never a silent cut" in the module docstring), with the reply's state cleared."""
        events: list[SessionEvent] = []
        if self._reply_open or self._reply_playing:
            if self._reply_playing and not self._reply_heard():
                # Cut early: flush what played; the turn (still unacknowledged) is replayed.
                events.append(Interrupted(self._reply_id))
                events.append(ResponseDone(self._reply_id, "cancelled", reason))
            elif self._reply_playing:
                heard = self._reply_heard_ms
                error = S2SError(
                    "receive",
                    ErrorCode.REPLY_CUT,
                    f"{self.provider_name}: reply cut after {heard:.0f} ms ({reason}); "
                    "not answered again",
                    details={"heard_ms": heard},
                )
                events.append(SessionError(error, fatal=False))
                events.append(ResponseDone(self._reply_id, "incomplete", reason))
            else:
                events.append(ResponseDone(self._reply_id, "incomplete", reason))
        self._reply_heard_ms = 0.0
        self._reply_id = None
        self._reply_open = self._reply_playing = False
        self._reply_offset = None
        return events

    def _mark_turn_end(self, offset: int) -> None:
        self._turn_end = max(offset, self._turn_end or 0)
        self._turn_end_at = anyio.current_time()

    def _answered(self) -> None:
        """The current turn got an answer: its audio (and text) no longer needs replaying."""
        self._asks.clear()
        if self._turn_end is not None:
            self.journal.acknowledge(self._turn_end)
        elif self._reply_offset is not None:
            self.journal.acknowledge(self._reply_offset)
        self._turn_end = self._turn_end_at = None
        self._reply_offset = None

    def _reply_heard(self) -> bool:
        """Has the user heard enough of the reply in progress to count it as answered?"""
        if self.replay_started_turns:
            return False
        return self._reply_heard_ms >= 1000.0 * self.replay_cut_reply_under

    def _track(self, event: SessionEvent) -> None:
        if isinstance(event, AudioChunk):
            if event.audio and not self._reply_playing:
                self._reply_playing = True
                self._reply_open = True
                self._reply_heard_ms = 0.0
                if self._reply_offset is None:
                    self._reply_offset = self.journal.total
            if event.audio and event.sample_rate:
                was_heard = self._reply_heard()
                self._reply_heard_ms += 1000.0 * len(event.audio) / (2 * event.sample_rate)
                if not was_heard and self._reply_heard():
                    self._answered()
        elif isinstance(event, SpeechStopped):
            self._user_speaking = False
            if event.audio_end_ms is not None:
                offset = self._inner_base + int(event.audio_end_ms * self._bytes_per_ms)
            else:
                offset = self.journal.total
            self._mark_turn_end(min(offset, self.journal.total))
        elif isinstance(event, SpeechStarted):
            self._user_speaking = True
        elif isinstance(event, ResponseStarted):
            self._reply_id = event.response_id
            self._reply_open = True
            self._reply_offset = self.journal.total
        elif isinstance(event, ResponseDone):
            if event.status == "completed":
                self._answered()
            self._reply_open = self._reply_playing = False
            self._reply_heard_ms = 0.0
            self._reply_id = None
            self._reply_offset = None
        elif isinstance(event, ToolCall):
            self._answered()  # replaying would run the tool twice

    @property
    def awaiting_first_audio(self) -> bool:
        """A user turn ended and no reply audio has been heard yet."""
        return self._turn_end_at is not None and not self._reply_playing

    @property
    def at_rest(self) -> bool:
        """Nothing in flight: no user speech, no unanswered turn, no reply playing."""
        return not (
            self._user_speaking
            or self._reply_open
            or self._reply_playing
            or self._turn_end is not None
        )
