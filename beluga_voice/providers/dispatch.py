"""How every provider core routes a server message to the code that understands it.

Each service names its messages differently (OpenAI a ``type`` field, Gemini the one key
a message carries, Nova the one key under ``event``), but what a core does with a name
is the same everywhere: a table from name to handler method, read top to bottom in one
place, and one rule for names the table lacks.  Services add message types over time, so
an unknown type is not an error: it is ignored and logged (at DEBUG, once per type per
conversation, so that a chatty new event cannot flood the log), while types a core knows
it does not need are listed as ``ignored`` and pass silently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any

from .events import SessionEvent

__all__ = ["Dispatcher", "Handler"]

log = logging.getLogger(__name__)

_MAX_REPORTED = 64

Handler = Callable[[Any], list[SessionEvent]]
"""Takes a message's body, returns the session events it means."""


class Dispatcher:
    """A provider core's table from server message type to handler."""

    def __init__(
        self, provider: str, handlers: Mapping[str, Handler], *, ignored: Collection[str] = ()
    ) -> None:
        self.provider = provider
        self.handlers = dict(handlers)
        self.ignored = frozenset(ignored)
        self.unknown: set[str] = set()
        """Types seen that neither the table nor ``ignored`` names (for tests and debug)."""

    def __call__(self, kind: str, body: Any) -> list[SessionEvent]:
        """The events of one message of type ``kind`` (none for a type without handler)."""
        handler = self.handlers.get(kind)
        if handler is None:
            self._unhandled(kind)
            return []
        return handler(body)

    def each(
        self,
        message: dict[str, Any],
        body: Callable[[dict[str, Any], str], Any] = lambda message, kind: message.get(kind),
    ) -> list[SessionEvent]:
        """For services whose message carries its content under one key per type: run the
        handler of every key present, in the table's order (which is the order their
        effects must apply in), and report the keys no handler takes.  ``body`` reads
        (and may validate) one key's content; ``None`` means absent."""
        events: list[SessionEvent] = []
        for kind, handler in self.handlers.items():
            content = body(message, kind)
            if content is not None:
                events += handler(content)
        for kind in message.keys() - self.handlers.keys():
            self._unhandled(kind)
        return events

    def _unhandled(self, kind: str) -> None:
        if kind in self.ignored or kind in self.unknown or len(self.unknown) >= _MAX_REPORTED:
            return  # bounded: a server inventing names cannot grow this set without end
        self.unknown.add(kind)
        log.debug("%s: server message type %r not handled; ignored", self.provider, kind)
