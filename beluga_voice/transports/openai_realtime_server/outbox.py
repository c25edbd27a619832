"""Where the protocol core collects what it produces: server events and backend actions.

The base of the core and of its mixins, so that each part emits events and errors the
same way and the shell takes them all, in order, with one :meth:`Outbox.take`.
"""

from __future__ import annotations

from typing import Any

from ...providers.errors import redact
from .actions import Action
from .responses import new_id

__all__ = ["Outbox"]


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
