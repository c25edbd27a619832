"""The connection lifecycle of :class:`~.protocol.GeminiLiveProtocol`: one logical Gemini
Live session across however many connections it takes.

A connection is set up (resuming with the newest handle), goes open on
``setupComplete``, and ends: by a ``goAway`` rotation the shell carries out when
:attr:`~ConnectionLifecycle.reconnect_wanted` says (after the reply in progress, within
the bounds of :class:`~.switch.SwitchPlan`), by a drop the retry layer resumes, or by a
close that ends the session (:class:`CloseVerdict`).  On a new connection the messages no
handle covered go out again before anything new (:meth:`~ConnectionLifecycle.take_ready`).

Why apart from ``protocol.py``: that module turns the caller's operations into JSON and
the server's messages into events, on one open connection; this one is what the shell
asks between connections.  :class:`ConnectionLifecycle` is the base of
``GeminiLiveProtocol`` and of nothing else; its state is made by
``GeminiLiveProtocol.__init__`` and declared here, where it is used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ErrorCode, S2SError
from ..events import SessionEvent
from . import wire
from .replay import ReplayLog
from .settings import GeminiSettings, build_setup
from .switch import SwitchPlan
from .turns import ReplyTracker

__all__ = ["CloseVerdict", "ConnectionLifecycle", "Phase"]


class Phase:
    """Connection phases: waiting for ``setupComplete``, open, or finished."""

    SETUP = "setup"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class CloseVerdict:
    """What to do about a closed connection (see :meth:`GeminiLiveProtocol.connection_lost`)."""

    reconnect: bool = False
    reason: str = ""
    error: S2SError | None = None


class ConnectionLifecycle:
    """What :class:`~.protocol.GeminiLiveProtocol` knows of its connections.  See the
    module docstring: the base of ``GeminiLiveProtocol`` only."""

    # The state, made by GeminiLiveProtocol.__init__ (see there for what each holds).
    settings: GeminiSettings
    external_reasoning: bool
    clock: Callable[[], float]
    phase: str
    connections: int
    last_replay_bytes: int
    switch: SwitchPlan
    replay: ReplayLog
    replies: ReplyTracker
    _expecting_reply: bool

    def start_connection(self) -> str:
        """The setup message for a new connection (resuming with the newest handle).

        Messages of the previous connection that no handle covered move to the front of
        the hold queue: they go out again, in order, once the new connection is ready.
        """
        self.connections += 1
        self.phase = Phase.SETUP
        self.switch.new_connection()
        self.replay.new_connection()
        setup = build_setup(
            self.settings,
            language=self.settings.speech_language,
            external_reasoning=self.external_reasoning,
            resume_handle=self.resume_handle,
        )
        return wire.dumps(setup)

    def take_ready(self) -> list[str]:
        """Messages to write now that the connection is open (replay, then held)."""
        if self.phase != Phase.OPEN:
            return []
        held = self.replay.take_held()
        self.last_replay_bytes = sum(m.audio_bytes for m in held)
        now = self.clock()
        self.switch.replayed(self.last_replay_bytes, now)
        return [self.replay.release(m, now) for m in held]

    @property
    def reconnect_wanted(self) -> bool:
        """True when the shell should move to a new connection now.

        After ``goAway`` the switch waits for the reply in progress to finish, since a
        reply cut at the switch would be lost with the old connection.
        """
        ready = (
            self.go_away
            and self.phase == Phase.OPEN
            and self.resume_handle is not None
            and self.replies.response is None
        )
        return ready and self.switch.due(self.clock())

    @property
    def resume_handle(self) -> str | None:
        """The newest resumption handle (what a new connection resumes from)."""
        return self.switch.handle

    @property
    def go_away(self) -> bool:
        return self.switch.go_away

    @property
    def repeat_bound(self) -> int:
        """Audio bytes the newest handle may cover although they are kept for replay: the
        most a resumption with it can repeat."""
        return self.switch.repeat_bound

    @property
    def handle_settled(self) -> bool:
        """The newest handle bounds a resumption's repeats by ``replay_margin_s``."""
        return self.switch.settled

    def switch_wait(self) -> float | None:
        """Seconds until a pending switch must happen even without a settled handle
        (``None``: nothing pending, or no deadline given); the shell wakes up then."""
        return self.switch.wait(self.clock())

    def can_resume(self) -> bool:
        return self.resume_handle is not None

    def connection_lost(self, code: int | None, reason: str) -> CloseVerdict:
        """The socket closed under us: resumable, an end, or a failure.

        A close after ``goAway``, or an abnormal drop (no close frame, 1006), can be
        resumed when a handle exists (``reconnect``); a normal close ends the session; any
        other close is the server's verdict on the session and becomes an error.
        """
        if (self.go_away or code in (None, 1006, 1012, 1014)) and self.can_resume():
            return CloseVerdict(reconnect=True)
        self.phase = Phase.CLOSED
        text = wire.close_text(code, reason)
        if code in (1000, 1001) and not self.go_away:
            return CloseVerdict(reason=text)
        mapped = wire.code_from_gemini_close(code, reason)
        if mapped is ErrorCode.AUTHENTICATION_ERROR:
            text += f"; check {wire.credentials_to_check(vertexai=self.settings.vertexai)}"
        error = S2SError("receive", mapped, text, details={"close_code": code})
        return CloseVerdict(reason=text, error=error)

    def interrupted_by_reconnect(self) -> list[SessionEvent]:
        """Events for a reply cut short by a connection that went away."""
        return self.replies.lost()

    @property
    def awaiting_server(self) -> bool:
        """True while silence from the server would mean a stall (setup, or a reply due)."""
        return (
            self.phase == Phase.SETUP or self.replies.response is not None or self._expecting_reply
        )
