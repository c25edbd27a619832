"""The session state machine of ``openai_live``: one state per connection, one table.

Like h11's ``_state``: every transition the protocol allows is listed, and
:meth:`LiveProtocol._move <.protocol.LiveProtocol>` raises on anything else::

    IDLE --start--> STARTING --session.started--> ACTIVE --close--> CLOSING
      STARTING / ACTIVE / CLOSING --session.closed--> CLOSED
"""

from __future__ import annotations

import enum

__all__ = ["TRANSITIONS", "State"]


class State(enum.Enum):
    IDLE = "idle"
    STARTING = "starting"
    ACTIVE = "active"
    CLOSING = "closing"
    CLOSED = "closed"


TRANSITIONS: dict[tuple[State, str], State] = {
    (State.IDLE, "start"): State.STARTING,
    (State.STARTING, "started"): State.ACTIVE,
    (State.ACTIVE, "close"): State.CLOSING,
    (State.STARTING, "closed"): State.CLOSED,
    (State.ACTIVE, "closed"): State.CLOSED,
    (State.CLOSING, "closed"): State.CLOSED,
    (State.IDLE, "closed"): State.CLOSED,
}
