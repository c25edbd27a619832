"""The agent interface: the insertion point for external reasoning.

An agent receives what the user said (as text) and the conversation context, and streams
its reply as text pieces.  It may call tools.  Streaming matters: the TTS (or the S2S
provider voicing the reply) starts speaking at the first sentence, not at the last word.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from ..conversation import ConversationContext

__all__ = ["Agent"]


@runtime_checkable
class Agent(Protocol):
    """Anything with a ``respond`` async generator is an agent."""

    def respond(self, text: str, ctx: ConversationContext) -> AsyncIterator[str]:
        """Stream the reply to ``text``; the pieces concatenated are the whole reply."""
        ...
