"""The lifecycle of one reply, as one state and a table of the moves between states.

A realtime service runs one response at a time, and the client must know at every moment
whether one is asked for, running, or being cancelled: a second ``response.create`` while
one runs is refused, a ``response.cancel`` with nothing running is refused, and a cancel
sent before ``response.created`` is a no-op the service ignores (so the reply would play
anyway).  These facts used to live in half a dozen booleans whose combinations had to be
read off several files; here they are one :class:`ReplyState` and one table,
:data:`TRANSITIONS`, in the manner of ``h11``'s connection state machine.  A move the
table does not list is a bug in the core, and raises :class:`ImpossibleTransition`
instead of silently leaving the core in a state no one designed.

Moves caused by the server (``CREATED``, ``DONE``) are listed from every state: the core
must follow whatever the service says, including a reply the service starts by itself
(server VAD answering the user) or a ``response.done`` for a reply it never announced.
Moves the client makes (``REQUEST``, ``CANCEL``, ``REJECTED``) are listed only where the
core may make them; the core checks :attr:`Reply.state` before it asks.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["TRANSITIONS", "ImpossibleTransition", "Reply", "ReplyState", "ReplyStep"]


class ReplyState(enum.Enum):
    """Where the conversation's (single) reply stands."""

    IDLE = "idle"
    """No reply asked for or running: a ``response.create`` may be sent."""
    REQUESTED = "requested"
    """``response.create`` sent; ``response.created`` not seen yet."""
    CANCEL_ON_CREATE = "cancel_on_create"
    """Asked for, then interrupted before it started: cancel it the moment it is created
    (a cancel sent now would find nothing to cancel)."""
    ACTIVE = "active"
    """``response.created`` seen: audio and transcripts flow until ``response.done``."""
    CANCELLING = "cancelling"
    """Cut short (our ``response.cancel``, or the server's VAD yielding to the user):
    waiting for its ``response.done``; nothing more may be cancelled."""


class ReplyStep(enum.Enum):
    """What can happen to the reply."""

    REQUEST = "request"
    """We send ``response.create`` (a reply, or an out-of-band spoken line)."""
    CREATED = "created"
    """The server sends ``response.created``."""
    CANCEL = "cancel"
    """We interrupt it (barge-in reported by the app)."""
    BARGE_IN = "barge_in"
    """The server's VAD heard the user and cancels its own reply."""
    DONE = "done"
    """The server sends ``response.done`` (any status)."""
    REJECTED = "rejected"
    """The server refuses our ``response.create`` with an ``error`` naming it."""
    RESET = "reset"
    """A new connection: nothing of the old one is in flight any more."""


_S, _E = ReplyState, ReplyStep

TRANSITIONS: dict[ReplyState, dict[ReplyStep, ReplyState]] = {
    _S.IDLE: {
        _E.REQUEST: _S.REQUESTED,
        _E.CREATED: _S.ACTIVE,  # the server answered by itself (server VAD)
        _E.DONE: _S.IDLE,
        _E.RESET: _S.IDLE,
    },
    _S.REQUESTED: {
        _E.CREATED: _S.ACTIVE,
        _E.CANCEL: _S.CANCEL_ON_CREATE,
        _E.BARGE_IN: _S.REQUESTED,  # announced to the app; the request still stands
        _E.DONE: _S.IDLE,
        _E.REJECTED: _S.IDLE,
        _E.RESET: _S.IDLE,
    },
    _S.CANCEL_ON_CREATE: {
        _E.CREATED: _S.CANCELLING,  # the core sends the deferred response.cancel
        _E.DONE: _S.IDLE,
        _E.REJECTED: _S.IDLE,
        _E.RESET: _S.IDLE,
    },
    _S.ACTIVE: {
        _E.CREATED: _S.ACTIVE,  # a new reply replaces the one we knew
        _E.CANCEL: _S.CANCELLING,
        _E.BARGE_IN: _S.CANCELLING,
        _E.DONE: _S.IDLE,
        _E.RESET: _S.IDLE,
    },
    _S.CANCELLING: {
        _E.CREATED: _S.ACTIVE,
        _E.DONE: _S.IDLE,
        _E.RESET: _S.IDLE,
    },
}

LIVE = frozenset({_S.REQUESTED, _S.CANCEL_ON_CREATE, _S.ACTIVE, _S.CANCELLING})
"""States in which another ``response.create`` would be refused."""
CANCELLABLE = frozenset({_S.REQUESTED, _S.ACTIVE})
"""States in which an interruption still has something to stop."""


class ImpossibleTransition(RuntimeError):
    """The core tried a move the table does not allow: a bug, never a server's fault."""

    def __init__(self, state: ReplyState, step: ReplyStep) -> None:
        super().__init__(f"reply: {step.name} is impossible in state {state.name}")
        self.state = state
        self.step = step


@dataclass(slots=True)
class Reply:
    """The reply's state, and what the protocol needs to know about it.

    ``response_id`` is the server's id while a reply runs (``ACTIVE``/``CANCELLING``);
    ``speak_line`` is the verbatim line of a requested out-of-band reply, ``live_line``
    that of the running one (a reconnect asks for it again from its start).
    """

    state: ReplyState = ReplyState.IDLE
    response_id: str | None = None
    speak_line: str | None = None
    live_line: str | None = None

    @property
    def live(self) -> bool:
        return self.state in LIVE

    @property
    def requested(self) -> bool:
        return self.state in (ReplyState.REQUESTED, ReplyState.CANCEL_ON_CREATE)

    @property
    def cancellable(self) -> bool:
        return self.state in CANCELLABLE

    def move(self, step: ReplyStep) -> ReplyState:
        """Take ``step``: the new state, or :class:`ImpossibleTransition`."""
        new = TRANSITIONS[self.state].get(step)
        if new is None:
            raise ImpossibleTransition(self.state, step)
        self.state = new
        if new not in (ReplyState.ACTIVE, ReplyState.CANCELLING):
            self.response_id = None
        return new
