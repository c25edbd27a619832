"""One connection of the fake realtime server: a small server-side state machine.

Written from the protocol documentation and the SDK's event types, independently of
the beluga-voice client: it imports nothing from ``beluga_voice.providers``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from typing import TYPE_CHECKING, Any

import anyio
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from ...audio.g711 import alaw_decode, ulaw_decode
from ...audio.turns import EnergyTurnDetector, TurnEvent
from .responses import Responder, new_id
from .schema import check_client_event, check_server_event

if TYPE_CHECKING:
    from .server import FakeRealtimeServer

__all__ = ["FakeConversation"]

# The voices OpenAI documents for ``audio.output.voice``; the service refuses others.
OPENAI_VOICES = (
    "alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar",
)  # fmt: skip
_DECODE = {"audio/pcmu": ulaw_decode, "audio/pcma": alaw_decode}


class FakeConversation(Responder):
    """The server side of one connection: session config, input buffer, VAD, replies."""

    def __init__(self, server: FakeRealtimeServer, ws: ServerConnection) -> None:
        self.server = server
        self.ws = ws
        self.grok = server.flavour == "grok"
        self.session: dict[str, Any] = {"type": "realtime"} if not self.grok else {}
        self.rate = 24000
        self.codec = self.out_codec = "audio/pcm"
        self.binary_in = self.binary_out = False
        self.current_event: str | None = None
        self.turn: dict[str, Any] | None = {"type": "server_vad"}
        self.vad = EnergyTurnDetector(self.rate, threshold_rms=server.speech_rms)
        self.user_item = new_id("item")
        self.buffered = 0
        self.response_scope: anyio.CancelScope | None = None
        self.response_id: str | None = None
        self.audio_ms: dict[str, float] = {}
        self.transcripts: dict[str, str] = {}
        self.pending_call: str | None = None
        self.user_turns = 0
        self.index = server.records.connections - 1

    # -- sending ------------------------------------------------------------------------------

    async def send(self, event: dict[str, Any]) -> None:
        event = {"event_id": new_id("event"), **event}
        problem = check_server_event(event, self.server.flavour)
        if problem:
            self.server.records.server_violations.append(problem)
        await self.ws.send(json.dumps(event))

    async def send_error(
        self, code: str | None, message: str, kind: str, param: str | None = None
    ) -> None:
        """An ``error`` event naming the client event being handled (``event_id``).  xAI
        documents ``code`` as the same string as ``type``."""
        error: dict[str, Any] = {"type": kind, "code": kind if self.grok else code}
        error["message"] = message
        if param is not None:
            error["param"] = param
        if self.current_event is not None:
            error["event_id"] = self.current_event
        self.server.records.errors_sent.append(error)
        await self.send({"type": "error", "error": error})

    def abort(self) -> None:
        transport = self.ws.transport
        if transport is not None:
            transport.abort()

    # -- main loop ----------------------------------------------------------------------------

    async def run(self) -> None:
        if self.grok:  # xAI's example flow: session.created, then conversation.created
            session = {"id": new_id("sess"), "object": "realtime.session"}
            await self.send({"type": "session.created", "session": session})
            conversation = {"id": new_id("conv"), "object": "realtime.conversation"}
            await self.send({"type": "conversation.created", "conversation": conversation})
        else:
            # The SDK's session.created carries the session as a create request: no id.
            await self.send({"type": "session.created", "session": dict(self.session)})
        try:
            async with anyio.create_task_group() as tg:
                self.tg = tg
                with contextlib.suppress(ConnectionClosed):
                    async for frame in self.ws:
                        await self.on_frame(frame)
                tg.cancel_scope.cancel()
        except* ConnectionClosed:
            pass  # the client went away mid-reply: nothing left to do

    async def on_frame(self, frame: str | bytes) -> None:
        rec = self.server.records
        self.current_event = None
        if isinstance(frame, bytes):
            rec.binary_frames += 1
            if not self.binary_in:
                rec.violations.append("binary frame without audio.input.transport=binary")
                return
            await self.hear(frame)
            return
        try:
            event = json.loads(frame)
        except ValueError:
            rec.violations.append("client frame is not JSON")
            await self.send_error("invalid_json", "could not parse JSON", "invalid_request_error")
            return
        problem = check_client_event(event, self.server.flavour)
        if isinstance(event, dict):
            rec.events.append(event)
            about = event.get("event_id")
            self.current_event = about if isinstance(about, str) else None
        if problem:
            # Like the real service: an invalid event is answered with an error and not
            # acted on (an echoed bad session would only spread the mistake).
            rec.violations.append(problem)
            await self.send_error("invalid_request_error", problem[:200], "invalid_request_error")
            self.server.notify()
            return
        handler = getattr(self, "on_" + str(event.get("type", "")).replace(".", "_"), None)
        if handler is None:
            kind = "invalid_event" if self.grok else "invalid_request_error"
            await self.send_error("unknown_event", f"unknown event {event.get('type')!r}", kind)
            return
        try:
            await handler(event)
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            # Already recorded as a schema violation; a real server answers with an error
            # event and keeps the connection, and so does the fake.
            message = f"invalid {event.get('type')!r}: {type(exc).__name__}"
            await self.send_error("invalid_value", message, "invalid_request_error")
        finally:
            self.server.notify()

    # -- client events ------------------------------------------------------------------------

    async def on_session_update(self, event: dict[str, Any]) -> None:
        new = event.get("session") or {}
        self.server.records.sessions.append(new)
        faults = self.server.faults
        if faults.reject_session_update is not None:
            error, faults.reject_session_update = faults.reject_session_update, None
            await self.send_error(
                error.get("code"),
                str(error.get("message", "")),
                str(error.get("type", "invalid_request_error")),
                error.get("param"),
            )
            return
        audio = new.get("audio") or {}
        voice = new.get("voice") if self.grok else (audio.get("output") or {}).get("voice")
        if not self.grok and voice is not None and voice not in OPENAI_VOICES:
            supported = ", ".join(f"'{v}'" for v in OPENAI_VOICES)
            await self.send_error(
                "invalid_value",
                f"Invalid value: '{voice}'. Supported values are: {supported}.",
                "invalid_request_error",
                "session.audio.output.voice",
            )
            return
        self.session.update(new)
        fmt = (audio.get("input") or {}).get("format") or {}
        self.codec = str(fmt.get("type") or "audio/pcm")
        out_fmt = (audio.get("output") or {}).get("format") or {}
        self.out_codec = str(out_fmt.get("type") or "audio/pcm")
        self.rate = 8000 if self.codec in _DECODE else int(fmt.get("rate") or 24000)
        if self.grok:
            self.turn = new.get("turn_detection", self.turn)
            self.binary_in = (audio.get("input") or {}).get("transport") == "binary"
            self.binary_out = (audio.get("output") or {}).get("transport") == "binary"
        else:
            self.turn = (audio.get("input") or {}).get("turn_detection", self.turn)
        self.vad = EnergyTurnDetector(self.rate, threshold_rms=self.server.speech_rms)
        if self.server.update_delay:
            await anyio.sleep(self.server.update_delay)
        await self.send({"type": "session.updated", "session": self.session})
        for err in faults.errors_after_update:
            await self.send({"type": "error", "error": err})
        faults.errors_after_update = []
        for raw in faults.malformed_after_update:
            await self.ws.send(raw)
        faults.malformed_after_update = []

    async def on_input_audio_buffer_append(self, event: dict[str, Any]) -> None:
        try:
            pcm = base64.b64decode(event.get("audio", ""), validate=True)
        except (binascii.Error, TypeError):
            await self.send_error("invalid_value", "audio is not base64", "invalid_request_error")
            return
        await self.hear(pcm)

    async def hear(self, data: bytes) -> None:
        decode = _DECODE.get(self.codec)
        pcm = decode(data) if decode is not None else data
        self.server.records.audio_bytes += len(pcm)
        self.server.records.audio_per_connection[self.index] += len(pcm)
        self.buffered += len(pcm)
        if self.turn is None or len(pcm) % 2:
            return
        for change in self.vad.feed(pcm):
            if change is TurnEvent.SPEECH_STARTED:
                start = int(self.vad.speech_start_ms or 0)
                await self.send(
                    {
                        "type": "input_audio_buffer.speech_started",
                        "audio_start_ms": start,
                        "item_id": self.user_item,
                    }
                )
                if self.response_scope is not None and self.turn.get("interrupt_response", True):
                    await self.cancel_response("turn_detected")
            else:
                end = int(self.vad.position_ms)
                await self.send(
                    {
                        "type": "input_audio_buffer.speech_stopped",
                        "audio_end_ms": end,
                        "item_id": self.user_item,
                    }
                )
                await self.commit()
                if self.turn.get("create_response", True):
                    self.start_response({})

    async def on_input_audio_buffer_commit(self, event: dict[str, Any]) -> None:
        if self.buffered == 0:
            await self.send_error(
                "input_audio_buffer_commit_empty", "buffer is empty", "invalid_request_error"
            )
            return
        await self.commit()

    async def on_input_audio_buffer_clear(self, event: dict[str, Any]) -> None:
        self.buffered = 0
        await self.send({"type": "input_audio_buffer.cleared"})

    async def commit(self) -> None:
        rec = self.server.records
        rec.commits += 1
        item_id, self.user_item = self.user_item, new_id("item")
        self.buffered = 0
        await self.send({"type": "input_audio_buffer.committed", "item_id": item_id})
        item = {
            "id": item_id,
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        await self.send({"type": "conversation.item.added", "item": item})
        said = self.server.user_transcript(self.user_turns)
        self.user_turns += 1
        half = len(said) // 2
        base = {"item_id": item_id, "content_index": 0}
        if self.grok:
            await self.send(
                {
                    "type": "conversation.item.input_audio_transcription.updated",
                    **base,
                    "transcript": said[:half],
                }
            )
        else:
            delta = {"type": "conversation.item.input_audio_transcription.delta", **base}
            await self.send({**delta, "delta": said[:half]})
            await self.send({**delta, "delta": said[half:]})
        await self.send(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                **base,
                "transcript": said,
                "usage": {"type": "duration", "seconds": 1.0},
            }
        )

    async def on_conversation_item_create(self, event: dict[str, Any]) -> None:
        item = dict(event.get("item") or {})
        rec = self.server.records
        rec.items.append(item)
        if item.get("type") == "force_message":  # xAI: synthesise the line as written
            text = str(item["content"][0]["text"])
            rec.forced.append(text)
            if self.response_scope is not None:
                await self.send_error(
                    None, "Conversation already has an active response", "invalid_request_error"
                )
                return
            self.start_response({"force": text})
            return
        if item.get("type") == "function_call_output":
            rec.tool_outputs.append((str(item.get("call_id")), str(item.get("output"))))
            if item.get("call_id") == self.pending_call:
                self.pending_call = None
        item.setdefault("id", new_id("item"))
        item["status"] = "completed"
        await self.send({"type": "conversation.item.added", "item": item})
        await self.send({"type": "conversation.item.done", "item": item})

    async def on_conversation_item_delete(self, event: dict[str, Any]) -> None:
        item_id = str(event.get("item_id"))
        self.server.records.deleted.append(item_id)
        await self.send({"type": "conversation.item.deleted", "item_id": item_id})

    async def on_conversation_item_truncate(self, event: dict[str, Any]) -> None:
        item_id = str(event.get("item_id"))
        end = event.get("audio_end_ms")
        index = event.get("content_index", 0)
        known = self.audio_ms.get(item_id)
        if known is None or not isinstance(end, int) or end < 0 or end > known + 1:
            await self.send_error(
                "invalid_value",
                f"cannot truncate {item_id} at {end} ms (has {known} ms)",
                "invalid_request_error",
            )
            return
        self.server.records.truncations.append((item_id, int(index), end))
        truncated = {
            "type": "conversation.item.truncated",
            "item_id": item_id,
            "content_index": index,
            "audio_end_ms": end,
        }
        if self.grok:  # xAI adds the transcript that is left
            said = self.transcripts.get(item_id, "")
            truncated["transcript"] = said[: int(len(said) * end / max(known, 1.0))]
        await self.send(truncated)

    async def on_response_create(self, event: dict[str, Any]) -> None:
        params = event.get("response") or {}
        self.server.records.responses.append(params)
        if self.response_scope is not None:
            await self.send_error(
                "conversation_already_has_active_response",
                "Conversation already has an active response in progress",
                "invalid_request_error",
            )
            return
        self.start_response(params)

    async def on_response_cancel(self, event: dict[str, Any]) -> None:
        self.server.records.cancels += 1
        wanted = event.get("response_id")
        if self.response_scope is None or (wanted is not None and wanted != self.response_id):
            await self.send_error(
                "response_cancel_not_active",
                "Cancellation failed: no active response found",
                "invalid_request_error",
            )
            return
        await self.cancel_response("client_cancelled")
