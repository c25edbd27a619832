"""Where the protocol core collects what it produces, and the state its parts share.

:class:`Outbox` collects server events and backend actions, so that each part of the
core emits events and errors the same way and the shell takes them all, in order, with
one :meth:`Outbox.take`.  :class:`CoreState` declares, once, the state the parts read
(set by :class:`~.core.RealtimeServerCore`), so that each part is type-checked against it.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from ...conversation import ConversationContext, Turn
from ...secrets import redact
from .actions import Action
from .responses import new_id

if TYPE_CHECKING:
    from .responses import ResponseState
    from .session import SessionState

__all__ = ["CoreState", "Outbox"]


class Outbox:
    """Server events and backend actions, in the order they were produced."""

    def __init__(self) -> None:
        self._events: list[dict[str, Any]] = []
        self._actions: list[Action] = []

    def take(self) -> tuple[list[dict[str, Any]], list[Action]]:
        """The server events and backend actions produced since the last call, in order."""
        events, self._events = self._events, []
        actions, self._actions = self._actions, []
        return events, actions

    def emit(self, event: dict[str, Any]) -> None:
        self._events.append({"event_id": new_id("event"), **event})

    def error(
        self,
        message: str,
        code: str,
        *,
        param: str | None = None,
        event_id: str | None = None,
        kind: str = "invalid_request_error",
    ) -> None:
        """An ``error`` event in OpenAI's shape (the connection stays open)."""
        self.emit(
            {
                "type": "error",
                "error": {
                    "type": kind,
                    "code": code,
                    "message": redact(message),
                    "param": param,
                    "event_id": event_id,
                },
            }
        )


class CoreState(Outbox):
    """The state the parts of the core share; see the module docstring."""

    session: SessionState
    context: ConversationContext
    conversation_id: str
    items: OrderedDict[str, dict[str, Any]]
    """The conversation, by item id, in order."""
    turns: dict[str, Turn]
    """The history turn each item added (deleting the item removes it)."""
    audio_ms: dict[str, float]
    """Milliseconds of audio of each assistant audio item (what may be truncated)."""
    response: ResponseState | None
    last_assistant_item: str | None
    user_item_id: str
    """The id the next user audio item gets (``speech_started`` announces it)."""
    buffered: int
    awaiting_transcript: str | None
    partial_user: str

    if TYPE_CHECKING:

        def commit_user_item(self) -> str: ...

        def add_item(self, item: dict[str, Any], turn: Turn | None = None) -> None: ...
