"""What a streaming TTS protocol core looks like to the shell that runs it (sans I/O).

A core turns the caller's moves (start, text, flush, end, cancel) into the messages to
send, and each message received into :class:`Received` (audio, and whether the reply is
done), writing alignment onto the reply's timeline.  It raises
:class:`~beluga_voice.errors.S2SError` for a service error.  It never touches a socket,
which is what lets the tests drive it with arbitrary messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from .alignment import Timeline

__all__ = ["Received", "WireCore"]


@dataclass(slots=True)
class Received:
    audio: list[bytes] = field(default_factory=list)
    done: bool = False


class WireCore(Protocol):
    def start(self) -> list[str]: ...

    def text(self, text: str) -> list[str]: ...

    def flush(self) -> list[str]: ...

    def end(self) -> list[str]: ...

    def cancel(self) -> list[str]: ...

    def receive(self, data: str | bytes, timeline: Timeline) -> Received: ...
