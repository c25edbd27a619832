"""Reply tracking: Gemini's stream of model output, cut into responses with transcripts.

Gemini sends no response ids and no "response started": a reply is everything between the
first model output of a turn and ``turnComplete`` (or ``interrupted``), and transcriptions
come as loose fragments.  :class:`ReplyTracker` numbers the replies, gathers the fragments
into final transcripts, and in external reasoning mode hides replies that nobody asked for
through ``speak()``.
"""

from __future__ import annotations

import logging
from typing import Literal

from ..events import (
    AudioChunk,
    Interrupted,
    ResponseDone,
    ResponseStarted,
    SessionEvent,
    Transcript,
)

__all__ = ["ReplyTracker"]

log = logging.getLogger("beluga_voice.providers.gemini")

Status = Literal["completed", "cancelled", "failed", "incomplete"]


class ReplyTracker:
    """Turns model output into response-shaped session events (see the module docstring)."""

    def __init__(self, *, external_reasoning: bool = False) -> None:
        self.external_reasoning = external_reasoning
        self.response: str | None = None
        """Id of the reply in progress, if any."""
        self._count = 0
        self._hidden = False  # the reply in progress is not shown (unsolicited)
        self._dropping = False  # the client cut the reply: drop output until turnComplete
        self._solicited = 0
        self._user: list[str] = []
        self._bot: list[str] = []

    def solicit(self) -> None:
        """``speak()`` asked for one reply (it is shown even in external reasoning mode)."""
        self._solicited += 1

    def user_text(self, text: str, finished: bool) -> list[SessionEvent]:
        events: list[SessionEvent] = []
        if text:
            self._user.append(text)
            events.append(Transcript("user", text, final=False))
        if finished:
            events += self.flush_user()
        return events

    def flush_user(self) -> list[SessionEvent]:
        """The user's turn is over: their whole transcript, once, as final."""
        text = "".join(self._user).strip()
        self._user.clear()
        return [Transcript("user", text, final=True)] if text else []

    def model_output(self, chunks: list[bytes], rate: int, text: str) -> list[SessionEvent]:
        events: list[SessionEvent] = []
        if not (chunks or text) or self._dropping:
            return events
        if self.response is None:
            events += self._start()
        if self._hidden:
            return events
        events += [AudioChunk(c, rate, response_id=self.response) for c in chunks if c]
        if text:
            self._bot.append(text)
            events.append(Transcript("assistant", text, final=False, item_id=self.response))
        return events

    def interrupted(self) -> list[SessionEvent]:
        """The server cut the reply (the user barged in)."""
        if self.response is None:
            return []
        rid = self.response
        ended = self._end("cancelled", "interrupted")
        return [Interrupted(rid), *ended] if ended else []

    def turn_complete(self) -> list[SessionEvent]:
        self._dropping = False
        events = self.flush_user()
        if self.response is None:
            return events
        if not self._hidden:
            events.append(AudioChunk(b"", 24000, is_final=True, response_id=self.response))
        return events + self._end("completed", None)

    def client_interrupt(self) -> list[SessionEvent]:
        """We cut the reply: end it now and drop what the server still sends of it."""
        if self.response is None:
            return []
        self._dropping = True
        return self._end("cancelled", "client interrupt")

    def lost(self) -> list[SessionEvent]:
        """The connection carrying the reply went away."""
        return self._end("incomplete", "connection lost") if self.response else []

    def _start(self) -> list[SessionEvent]:
        self._count += 1
        self.response = f"gemini-turn-{self._count}"
        events = self.flush_user()
        self._hidden = self.external_reasoning and self._solicited == 0
        if self._hidden:
            log.debug("gemini: hiding an unsolicited reply (external reasoning)")
            return events
        if self.external_reasoning:
            self._solicited -= 1
        return [*events, ResponseStarted(self.response)]

    def _end(self, status: Status, reason: str | None) -> list[SessionEvent]:
        rid, self.response = self.response, None
        text = "".join(self._bot).strip()
        self._bot.clear()
        if self._hidden:
            self._hidden = False
            return []
        events: list[SessionEvent] = []
        if text:
            events.append(Transcript("assistant", text, final=True, item_id=rid))
        events.append(ResponseDone(rid, status, reason))
        return events
