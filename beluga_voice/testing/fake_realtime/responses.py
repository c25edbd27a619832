"""How the fake answers: scripted replies streamed as deltas, function calls, cancels.

A reply runs as its own task in the connection's task group, so that the connection
keeps reading while it streams: that is what lets a cancel or a barge-in land mid-reply.
"""

from __future__ import annotations

import base64
import uuid
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup
from websockets.asyncio.server import ServerConnection

from ...audio.g711 import alaw_encode, ulaw_encode
from .script import FunctionCall, Reply

if TYPE_CHECKING:
    from .server import FakeRealtimeServer

__all__ = ["Responder", "new_id"]


_ENCODE = {"audio/pcmu": ulaw_encode, "audio/pcma": alaw_encode}


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


class Responder:
    """Mixin of :class:`~.conversation.FakeConversation`: the response side.

    The attributes and methods below belong to :class:`~.conversation.FakeConversation`
    (``tg`` is set when its ``run`` opens the task group); they are declared here only
    so that the response side is type-checked against them.
    """

    server: FakeRealtimeServer
    ws: ServerConnection
    tg: TaskGroup
    rate: int
    out_codec: str
    grok: bool
    binary_out: bool
    transcripts: dict[str, str]
    response_scope: anyio.CancelScope | None
    response_id: str | None
    audio_ms: dict[str, float]
    pending_call: str | None

    if TYPE_CHECKING:

        async def send(self, event: dict[str, Any]) -> None: ...

        def abort(self) -> None: ...

    # -- responses ----------------------------------------------------------------------------

    def start_response(self, params: dict[str, Any]) -> None:
        if self.response_scope is not None:
            return
        self.response_id = rid = new_id("resp")
        self.response_scope = scope = anyio.CancelScope()
        self.tg.start_soon(self.respond, rid, scope, params)

    async def cancel_response(self, reason: str) -> None:
        scope, rid = self.response_scope, self.response_id
        if scope is None:
            return
        scope.cancel()
        self.response_scope = None
        await self.send(self.response_done(rid, "cancelled", reason))

    def response_done(
        self, rid: str | None, status: str, reason: str | None = None
    ) -> dict[str, Any]:
        response: dict[str, Any] = {"id": rid, "object": "realtime.response", "status": status}
        if reason:
            response["status_details"] = {"type": status, "reason": reason}
        response["usage"] = {"input_tokens": 10, "output_tokens": 20, "total_tokens": 30}
        return {"type": "response.done", "response": response}

    async def respond(self, rid: str, scope: anyio.CancelScope, params: dict[str, Any]) -> None:
        with scope:
            if "force" in params:  # xAI force_message: the line, as written
                entry: Reply | FunctionCall = Reply(self.server.speak_audio, params["force"])
            elif params.get("conversation") == "none":  # out of band: voice the instructions
                said = str(params.get("instructions", ""))
                entry = Reply(self.server.speak_audio, said)
            else:
                entry = self.server.next_entry()
            response: dict[str, Any] = {
                "id": rid,
                "object": "realtime.response",
                "status": "in_progress",
            }
            if self.grok:
                response.update(output=[], metadata=None)
            await self.send({"type": "response.created", "response": response})
            if isinstance(entry, FunctionCall):
                await self.call_function(rid, entry)
            else:
                await self.speak(rid, entry)
            self.response_scope = None
            await self.send(self.response_done(rid, "completed"))

    async def call_function(self, rid: str, call: FunctionCall) -> None:
        item_id, call_id = new_id("item"), new_id("call")
        self.pending_call = call_id
        item = {
            "id": item_id,
            "type": "function_call",
            "call_id": call_id,
            "name": call.name,
            "arguments": "",
        }
        base = {"response_id": rid, "item_id": item_id, "output_index": 0}
        await self.send(
            {
                "type": "response.output_item.added",
                **{"response_id": rid},
                "output_index": 0,
                "item": item,
            }
        )
        await self.send(
            {
                "type": "response.function_call_arguments.delta",
                **base,
                "call_id": call_id,
                "delta": call.arguments,
            }
        )
        await self.send(
            {
                "type": "response.function_call_arguments.done",
                **base,
                "call_id": call_id,
                "name": call.name,
                "arguments": call.arguments,
            }
        )
        done = {**item, "arguments": call.arguments, "status": "completed"}
        await self.send(
            {
                "type": "response.output_item.done",
                "response_id": rid,
                "output_index": 0,
                "item": done,
            }
        )

    async def speak(self, rid: str, reply: Reply) -> None:
        server, faults = self.server, self.server.faults
        item_id = new_id("item")
        self.audio_ms[item_id] = 0.0
        item = {
            "id": item_id,
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [{"type": "output_audio", "transcript": ""}],
        }
        base = {"response_id": rid, "item_id": item_id, "output_index": 0, "content_index": 0}
        await self.send(
            {
                "type": "response.output_item.added",
                "response_id": rid,
                "output_index": 0,
                "item": item,
            }
        )
        await self.send(
            {
                "type": "response.content_part.added",
                **base,
                "part": {"type": "audio", "transcript": ""},
            }
        )
        step = max(2, self.rate * server.chunk_ms // 1000 * 2)
        words = reply.transcript.split(" ")
        chunks = [reply.audio[i : i + step] for i in range(0, len(reply.audio), step)]
        for n, chunk in enumerate(chunks):
            if faults.drop_after_chunks_once is not None and n >= faults.drop_after_chunks_once:
                faults.drop_after_chunks_once = None
                self.abort()
                await anyio.sleep_forever()
            if faults.stall_after_chunks_once is not None and n >= faults.stall_after_chunks_once:
                faults.stall_after_chunks_once = None
                await anyio.sleep_forever()
            encode = _ENCODE.get(self.out_codec)
            wire = encode(chunk) if encode is not None else chunk
            if self.binary_out:
                await self.ws.send(wire)
            else:
                delta = base64.b64encode(wire).decode()
                await self.send({"type": "response.output_audio.delta", **base, "delta": delta})
            self.audio_ms[item_id] += 1000.0 * (len(chunk) // 2) / self.rate
            self.transcripts[item_id] = reply.transcript
            if n < len(words) and reply.transcript:
                text = words[n] if n == 0 else " " + words[n]
                await self.send(
                    {"type": "response.output_audio_transcript.delta", **base, "delta": text}
                )
            if server.pace > 0:
                await anyio.sleep(server.pace * server.chunk_ms / 1000)
        rest = " ".join(words[len(chunks) :])
        if rest and reply.transcript:
            await self.send(
                {"type": "response.output_audio_transcript.delta", **base, "delta": " " + rest}
            )
        await self.send({"type": "response.output_audio.done", **base})
        await self.send(
            {
                "type": "response.output_audio_transcript.done",
                **base,
                "transcript": reply.transcript,
            }
        )
        done = {
            **item,
            "status": "completed",
            "content": [{"type": "output_audio", "transcript": reply.transcript}],
        }
        await self.send(
            {
                "type": "response.output_item.done",
                "response_id": rid,
                "output_index": 0,
                "item": done,
            }
        )
