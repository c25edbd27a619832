"""The fake's Responses backend: delegations that run a backend model, as the Live
delegation guide describes them (``response.event`` envelopes, function calls answered
with ``response.item.create`` and continued with ``response.create``)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from .script import Delegate

if TYPE_CHECKING:
    from .server import FakeLiveServer

__all__ = ["ResponsesBackend", "new_id"]


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


class ResponsesBackend:
    """Mixin of :class:`~.conversation.LiveConversation` (which sets these attributes)."""

    server: FakeLiveServer
    delegation: str
    calls: dict[str, tuple[str, Delegate]]
    outputs: dict[str, str]

    if TYPE_CHECKING:

        @property
        def now_ms(self) -> int: ...

        async def send(self, event: dict[str, Any]) -> None: ...

        async def error(
            self, code: str, message: str, *, param: str | None = None, cid: Any = None
        ) -> None: ...

        def _stamp(self, event: dict[str, Any], cid: Any = None) -> dict[str, Any]: ...

        async def speak(self, text: str, audio: bytes | None = None) -> None: ...

        async def turn_done(self) -> None: ...

    async def on_response_item_create(self, event: dict[str, Any]) -> None:
        if self.delegation != "responses":
            await self.error(
                "invalid_request_error",
                "response.item.create requires Responses delegation.",
                cid=event.get("event_id"),
            )
            return
        item = event["item"]
        call_id = item.get("call_id") if isinstance(item, dict) else None
        if item.get("type") != "function_call_output" or call_id not in self.calls:
            await self.error(
                "invalid_value",
                "Expected the output of an open function call.",
                param="item.call_id",
                cid=event.get("event_id"),
            )
            return
        self.outputs[call_id] = str(item.get("output", ""))
        self.server.records.function_outputs.append((call_id, self.outputs[call_id]))

    async def on_response_create(self, event: dict[str, Any]) -> None:
        if self.delegation != "responses":
            await self.error(
                "invalid_request_error",
                "response.create requires Responses delegation.",
                cid=event.get("event_id"),
            )
            return
        for call_id in [c for c in self.calls if c in self.outputs]:
            did, entry = self.calls.pop(call_id)
            await self.backend_done(did, entry, self.outputs.pop(call_id))

    async def backend(self, did: str, entry: Delegate) -> None:
        rid = new_id("resp")
        created = {
            "type": "session.delegation.created",
            "offset_ms": self.now_ms,
            "delegation": {
                "id": did,
                "type": "delegation",
                "target": "responses",
                "response_id": rid,
            },
        }
        await self.send(self._stamp(created))
        await self.envelope(
            did, {"type": "response.created", "response": {"id": rid, "status": "in_progress"}}
        )
        if entry.function is None:
            await self.backend_done(did, entry, "")
            return
        name, arguments = entry.function
        call_id = new_id("call")
        item = {
            "type": "function_call",
            "id": new_id("fc"),
            "call_id": call_id,
            "name": name,
            "arguments": arguments,
            "status": "completed",
        }
        await self.envelope(
            did, {"type": "response.output_item.done", "output_index": 0, "item": item}
        )
        self.calls[call_id] = (did, entry)

    async def backend_done(self, did: str, entry: Delegate, output: str) -> None:
        usage = {
            "input_tokens": entry.input_tokens,
            "output_tokens": entry.output_tokens,
            "total_tokens": entry.input_tokens + entry.output_tokens,
        }
        response = {"id": new_id("resp"), "status": "completed", "model": "backend", "usage": usage}
        await self.envelope(did, {"type": "response.completed", "response": response})
        await self.speak(entry.answer.format(output=output))
        await self.turn_done()

    async def envelope(self, did: str, inner: dict[str, Any]) -> None:
        await self.send(
            self._stamp({"type": "response.event", "delegation_id": did, "event": inner})
        )
