"""What a fake realtime server says, and how it misbehaves when asked to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...audio.turns import tone

__all__ = ["Faults", "FunctionCall", "Reply", "ScriptEntry"]


@dataclass(slots=True)
class Reply:
    """A spoken answer: PCM16 mono at the session rate, and its transcript."""

    audio: bytes = field(default_factory=lambda: tone(0.4))
    transcript: str = "Hello from the fake server."


@dataclass(slots=True)
class FunctionCall:
    """A response that asks the client to run a function instead of speaking."""

    name: str
    arguments: str = "{}"


ScriptEntry = Reply | FunctionCall


@dataclass(slots=True)
class Faults:
    """Misbehaviour on demand.  Each ``*_once`` fault fires on one connection only.

    - ``reject_handshakes``: HTTP statuses answered to the next handshakes, in order
      (429, 500, 503...), instead of accepting them.
    - ``errors_after_update``: ``error`` objects sent right after ``session.updated``.
    - ``drop_after_chunks_once``: close the TCP connection, with no close frame, after
      that many audio chunks of a reply (a drop mid-turn).
    - ``stall_after_chunks_once``: stop sending anything after that many audio chunks.
    - ``malformed_after_update``: raw text frames (not valid events) sent after
      ``session.updated``.
    - ``reject_session_update``: an ``error`` object answering the next
      ``session.update`` instead of ``session.updated`` (the service refusing a setup).
    """

    reject_handshakes: list[int] = field(default_factory=list)
    errors_after_update: list[dict[str, Any]] = field(default_factory=list)
    drop_after_chunks_once: int | None = None
    stall_after_chunks_once: int | None = None
    malformed_after_update: list[str] = field(default_factory=list)
    reject_session_update: dict[str, Any] | None = None
