"""The conversation a session serves: its ids, its history of turns, its preferences.

Agents, providers, processors and transports all read and extend it, so it lives on the
ground floor of the package rather than with any one of them.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["ConversationContext", "Turn", "new_conversation_context"]


@dataclass(slots=True)
class Turn:
    """One entry of the conversation history."""

    role: Literal["user", "assistant", "system", "tool"]
    text: str
    timestamp: float = field(default_factory=time.time)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ConversationContext:
    """What a provider session needs to know about the conversation it serves.

    The history is carried over when a session is reopened (retry, fallback, session
    continuation) so that a new connection can be re-seeded with what was said.
    """

    conversation_id: str
    session_id: str
    user_id: str | None = None
    history: list[Turn] = field(default_factory=list)
    preferences: dict[str, Any] = field(default_factory=dict)
    agent_state: dict[str, Any] = field(default_factory=dict)

    def add_turn(self, role: Literal["user", "assistant", "system", "tool"], text: str) -> Turn:
        turn = Turn(role=role, text=text)
        self.history.append(turn)
        return turn


def new_conversation_context(
    session_id: str | None = None,
    *,
    conversation_id: str | None = None,
    user_id: str | None = None,
    **preferences: Any,
) -> ConversationContext:
    """Build a :class:`ConversationContext`, generating ids that are not given."""
    return ConversationContext(
        conversation_id=conversation_id or f"conv-{uuid.uuid4().hex[:12]}",
        session_id=session_id or f"sess-{uuid.uuid4().hex[:12]}",
        user_id=user_id,
        preferences=dict(preferences),
    )
