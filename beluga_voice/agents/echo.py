"""The echo agent: says back what it heard.

Useful as a sound check of the whole chain (is the recogniser hearing me? is the voice
working?) and as the smallest example of the :class:`~beluga_voice.agents.Agent` protocol.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from ..conversation import ConversationContext

__all__ = ["EchoAgent"]


class EchoAgent:
    """Replies ``prefix + text``.  An empty utterance gets ``empty_reply`` (or nothing)."""

    def __init__(self, prefix: str = "You said: ", empty_reply: str = "") -> None:
        self.prefix = prefix
        self.empty_reply = empty_reply

    async def respond(self, text: str, ctx: ConversationContext) -> AsyncIterator[str]:
        text = text.strip()
        if not text:
            if self.empty_reply:
                yield self.empty_reply
            return
        yield f"{self.prefix}{text}"
