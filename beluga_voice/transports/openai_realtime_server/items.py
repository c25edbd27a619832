"""The conversation side of the protocol core: items the client creates, truncates,
deletes and retrieves, and the user audio items a commit makes.

A mixin of :class:`~.core.RealtimeServerCore`, split off because the conversation is its
own piece of state: items by id, in order (at most ``max_items``, oldest first out), each
linked to the :class:`~beluga_voice.conversation.Turn` it added to the history the
backend reads, so that deleting an item removes what the backend remembers of it, and
truncating the last reply tells the backend what the user heard.
"""

from __future__ import annotations

from typing import Any

from ...conversation import Turn
from .actions import Interrupt
from .outbox import CoreState
from .responses import new_id
from .schema import (
    ConversationItemCreate,
    ConversationItemDelete,
    ConversationItemRetrieve,
    ConversationItemTruncate,
    FunctionCallOutput,
    UserMessage,
)

__all__ = ["ConversationItems"]


class ConversationItems(CoreState):
    """See the module docstring.  The attributes are :class:`~.core.RealtimeServerCore`'s."""

    max_items: int
    pending_texts: list[str]
    pending_results: list[tuple[str, str]]

    def _on_conversation_item_create(self, ev: ConversationItemCreate) -> None:
        item = ev.item
        if ev.previous_item_id not in (None, "root") and ev.previous_item_id not in self.items:
            self.error(
                f"previous_item_id {ev.previous_item_id!r} is not in the conversation",
                "item_not_found",
                param="previous_item_id",
                event_id=ev.event_id,
            )
            return
        if item.id is not None and item.id in self.items:
            self.error(
                f"item {item.id!r} already exists",
                "item_already_exists",
                param="item.id",
                event_id=ev.event_id,
            )
            return
        record = item.model_dump(exclude_none=True)
        record.update(id=item.id or new_id("item"), object="realtime.item", status="completed")
        if isinstance(item, FunctionCallOutput):
            self.pending_results.append((item.call_id, item.output))
            turn = Turn(role="tool", text=item.output, metadata={"call_id": item.call_id})
        else:
            text = "\n".join(part.text for part in item.content)
            if isinstance(item, UserMessage):
                self.pending_texts.append(text)
            turn = Turn(role=item.role, text=text)
        self.context.history.append(turn)
        self.add_item(record, turn)

    def _on_conversation_item_truncate(self, ev: ConversationItemTruncate) -> None:
        item = self.items.get(ev.item_id)
        heard = self.audio_ms.get(ev.item_id)
        if item is None or heard is None:
            self.error(
                f"item {ev.item_id!r} is not an assistant audio item of this conversation",
                "item_not_found",
                param="item_id",
                event_id=ev.event_id,
            )
            return
        if ev.content_index != 0:
            self.error(
                "content_index must be 0",
                "invalid_value",
                param="content_index",
                event_id=ev.event_id,
            )
            return
        if ev.audio_end_ms > heard + 1:
            self.error(
                f"audio_end_ms {ev.audio_end_ms} is beyond the item's {heard:.0f} ms of audio",
                "invalid_value",
                param="audio_end_ms",
                event_id=ev.event_id,
            )
            return
        if ev.item_id != self.last_assistant_item or self.response is not None:
            # The backend can only cut the reply it gave last: say so rather than pretend.
            self.error(
                "only the most recent assistant reply can be truncated, and not while "
                "another response is in progress",
                "unsupported_truncation",
                param="item_id",
                event_id=ev.event_id,
            )
            return
        self.audio_ms[ev.item_id] = float(ev.audio_end_ms)
        self._actions.append(Interrupt(float(ev.audio_end_ms)))
        self.emit(
            {
                "type": "conversation.item.truncated",
                "item_id": ev.item_id,
                "content_index": 0,
                "audio_end_ms": ev.audio_end_ms,
            }
        )

    def _on_conversation_item_delete(self, ev: ConversationItemDelete) -> None:
        if ev.item_id not in self.items:
            self.error(
                f"item {ev.item_id!r} not found",
                "item_not_found",
                param="item_id",
                event_id=ev.event_id,
            )
            return
        self._forget(ev.item_id)
        self.emit({"type": "conversation.item.deleted", "item_id": ev.item_id})

    def _on_conversation_item_retrieve(self, ev: ConversationItemRetrieve) -> None:
        item = self.items.get(ev.item_id)
        if item is None:
            self.error(
                f"item {ev.item_id!r} not found",
                "item_not_found",
                param="item_id",
                event_id=ev.event_id,
            )
            return
        self.emit({"type": "conversation.item.retrieved", "item": dict(item)})

    def add_item(self, item: dict[str, Any], turn: Turn | None = None) -> None:
        """Record an item of the conversation and announce it (added, then done)."""
        previous = next(reversed(self.items), None)
        self.items[item["id"]] = item
        if turn is not None:
            self.turns[item["id"]] = turn
        while len(self.items) > self.max_items:
            self._forget(next(iter(self.items)))
        self.emit(
            {"type": "conversation.item.added", "previous_item_id": previous, "item": dict(item)}
        )
        self.emit(
            {"type": "conversation.item.done", "previous_item_id": previous, "item": dict(item)}
        )

    def _forget(self, item_id: str) -> None:
        self.items.pop(item_id, None)
        self.audio_ms.pop(item_id, None)
        turn = self.turns.pop(item_id, None)
        if turn is not None:  # the backend's memory (history) forgets it too
            self.context.history[:] = [t for t in self.context.history if t is not turn]
        if self.last_assistant_item == item_id:
            self.last_assistant_item = None

    def commit_user_item(self) -> str:
        """Close the input buffer into a user audio item (``committed``, ``added``, ``done``)."""
        item_id, self.user_item_id = self.user_item_id, new_id("item")
        previous = next(reversed(self.items), None)
        self.buffered = 0
        self.emit(
            {
                "type": "input_audio_buffer.committed",
                "previous_item_id": previous,
                "item_id": item_id,
            }
        )
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        self.add_item(item)
        self.awaiting_transcript = item_id
        self.partial_user = ""
        return item_id
