"""One connection to the fake GPT-Live server: the session as the documents describe it."""

from __future__ import annotations

import base64
import contextlib
import json
import time
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from ...audio.turns import EnergyTurnDetector, TurnEvent, tone
from .backend import ResponsesBackend, new_id
from .schema import check_client_event, check_server_event, unknown_session_keys
from .script import Delegate, Reply

if TYPE_CHECKING:
    from .server import FakeLiveServer

__all__ = ["LiveConversation"]

_WORD_SECONDS = 0.25


class LiveConversation(ResponsesBackend):
    """Protocol state of one fake session; handlers are ``on_<event type>``."""

    def __init__(self, server: FakeLiveServer, ws: ServerConnection) -> None:
        self.server = server
        self.ws = ws
        self.started = False
        self.closed = False
        self.muted = False
        self.rate = 24000
        self.resource: dict[str, Any] = {}
        self.delegation = "client"
        self.detector: EnergyTurnDetector | None = None
        self.heard_ms = 0.0
        self.answered = 0
        self.client_delegations: dict[str, Delegate] = {}
        self.calls: dict[str, tuple[str, Delegate]] = {}
        """Open backend function call id -> (delegation id, script entry)."""
        self.outputs: dict[str, str] = {}

    # -- sending ------------------------------------------------------------------------------

    async def send(self, event: dict[str, Any]) -> None:
        problem = check_server_event(event)
        if problem:
            self.server.records.server_violations.append(problem)
        await self.ws.send(json.dumps(event))

    async def error(
        self, code: str, message: str, *, param: str | None = None, cid: Any = None
    ) -> None:
        err: dict[str, Any] = {"type": "invalid_request_error", "code": code, "message": message}
        if param:
            err["param"] = param
        if isinstance(cid, str):
            err["client_event_id"] = cid
        await self.send({"type": "error", "event_id": new_id("event"), "error": err})

    def _stamp(self, event: dict[str, Any], cid: Any = None) -> dict[str, Any]:
        event["event_id"] = new_id("event")
        if isinstance(cid, str):
            event["client_event_id"] = cid
        return event

    @property
    def now_ms(self) -> int:
        return int(self.heard_ms)

    # -- main loop ----------------------------------------------------------------------------

    async def run(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for frame in self.ws:
                await self.on_frame(frame)
                if self.closed:
                    await self.ws.close(1000, "session closed")
                    return

    async def on_frame(self, frame: str | bytes) -> None:
        rec = self.server.records
        try:
            event = json.loads(frame)
        except ValueError:
            rec.violations.append("client frame is not JSON")
            await self.error("invalid_json", "The message is not valid JSON.")
            return
        if isinstance(event, dict):
            rec.events.append(event)
        problem = check_client_event(event)
        try:
            if problem:
                rec.violations.append(problem)
                await self.error("invalid_request_error", problem[:200])
                return
            kind = str(event["type"])
            if not self.started and kind != "session.start":
                await self.error(
                    "session_not_started", "Send session.start first.", cid=event.get("event_id")
                )
                return
            handler = getattr(self, "on_" + kind.replace(".", "_"), None)
            if handler is None:
                await self.error("unsupported_event", f"{kind} is not supported by this server.")
                return
            await handler(event)
        finally:
            self.server.notify()

    # -- session ------------------------------------------------------------------------------

    async def on_session_start(self, event: dict[str, Any]) -> None:
        cid = event.get("event_id")
        if self.started:
            await self.error("session_already_started", "The session has already started.", cid=cid)
            return
        session = dict(event["session"])
        unknown = unknown_session_keys(session)
        if unknown:
            await self.error(
                "unknown_parameter",
                f"Unknown parameter: 'session.{unknown[0]}'.",
                param=f"session.{unknown[0]}",
                cid=cid,
            )
            return
        if session.get("model") not in self.server.models:
            await self.error(
                "model_not_found",
                f"The model {session.get('model')!r} does not exist.",
                param="session.model",
                cid=cid,
            )
            return
        audio = dict(session.get("audio") or {})
        fmt = audio.get("format") or {"type": "audio/pcm", "rate": 24000}
        if fmt.get("type") != "audio/pcm":
            await self.error(
                "invalid_value",
                "This server takes audio/pcm only.",
                param="session.audio.format",
                cid=cid,
            )
            return
        self.rate = int(fmt.get("rate") or 24000)
        self.detector = EnergyTurnDetector(self.rate, threshold_rms=self.server.speech_rms)
        delegation = session.get("delegation")
        self.delegation = delegation["type"] if isinstance(delegation, dict) else "client"
        self.server.records.starts.append(session)
        self.resource = {
            **session,
            "id": new_id("sess"),
            "expires_at": int(time.time()) + 3600,
            "status": "active",
            "audio": {"format": fmt, "output": audio.get("output") or {"voice": "marin"}},
        }
        self.started = True
        await self.send(self._stamp({"type": "session.started", "session": self.resource}, cid))

    async def on_session_update(self, event: dict[str, Any]) -> None:
        update = event["session"]
        delegation = update.get("delegation")
        if isinstance(delegation, dict):
            if delegation.get("type") != self.delegation:
                await self.error(
                    "invalid_value",
                    "The delegation type cannot change.",
                    param="session.delegation.type",
                    cid=event.get("event_id"),
                )
                return
            merged = {**(self.resource.get("delegation") or {}), **delegation}
            self.resource["delegation"] = merged
        await self.send(
            self._stamp(
                {"type": "session.updated", "session": self.resource}, event.get("event_id")
            )
        )

    async def on_session_close(self, event: dict[str, Any]) -> None:
        self.server.records.closes += 1
        await self._closed("close_requested", event.get("event_id"))

    async def _closed(self, reason: str, cid: Any = None) -> None:
        usage = {"seconds": float(int(self.heard_ms / 1000))}
        closed = {
            "type": "session.closed",
            "reason": reason,
            "session": self.resource,
            "usage": usage,
        }
        await self.send(self._stamp(closed, cid))
        self.closed = True

    # -- input --------------------------------------------------------------------------------

    async def on_session_input_audio_append(self, event: dict[str, Any]) -> None:
        pcm = base64.b64decode(event["audio"], validate=True)
        self.server.records.audio_bytes += len(pcm)
        self.heard_ms += 1000.0 * (len(pcm) // 2) / self.rate
        assert self.detector is not None
        for turn_event in self.detector.feed(bytes(len(pcm)) if self.muted else pcm):
            if turn_event is TurnEvent.SPEECH_STOPPED:
                await self.turn(self.detector.speech_start_ms or 0.0)
                if self.closed:
                    return

    async def on_session_input_audio_mute(self, event: dict[str, Any]) -> None:
        await self._mute(True, event)

    async def on_session_input_audio_unmute(self, event: dict[str, Any]) -> None:
        await self._mute(False, event)

    async def _mute(self, muted: bool, event: dict[str, Any]) -> None:
        self.muted = muted
        self.server.records.mutes.append(muted)
        kind = "session.input_audio.muted" if muted else "session.input_audio.unmuted"
        await self.send(self._stamp({"type": kind}, event.get("event_id")))

    # -- context appends ------------------------------------------------------------------------

    async def on_session_instructions_append(self, event: dict[str, Any]) -> None:
        await self._append("instructions", event)

    async def on_session_thinking_append(self, event: dict[str, Any]) -> None:
        await self._append("thinking", event)

    async def on_session_commentary_append(self, event: dict[str, Any]) -> None:
        await self._append("commentary", event)

    async def _append(self, kind: str, event: dict[str, Any]) -> None:
        cid = event.get("event_id")
        did = event.get("delegation_id")
        if did is not None and (self.delegation != "client" or did not in self.client_delegations):
            await self.error(
                "invalid_value",
                f"Unknown client delegation {did!r}.",
                param="delegation_id",
                cid=cid,
            )
            return
        self.server.records.appends.append(event)
        at = self.now_ms
        await self.send(
            self._stamp({"type": f"session.{kind}.appended", "start_ms": at, "end_ms": at}, cid)
        )
        if did is not None:
            self.client_delegations.pop(did)
            if kind == "commentary":
                await self.speak(str(event["content"]))
            await self.turn_done()

    # -- the model ------------------------------------------------------------------------------

    async def turn(self, speech_start_ms: float) -> None:
        """A user turn ended: transcribe it, then answer with the next script entry."""
        text = self.server.user_transcript(self.server.turns)
        entry = self.server.next_entry()
        words = text.split()
        start, end = int(speech_start_ms), self.now_ms
        for i, word in enumerate(words):
            delta = {
                "type": "session.input_transcript.delta",
                "delta": ("" if i == 0 else " ") + word,
                "start_ms": start + (end - start) * i // len(words),
                "end_ms": start + (end - start) * (i + 1) // len(words),
            }
            await self.send(self._stamp(delta))
        if isinstance(entry, Reply):
            await self.speak(entry.transcript, entry.audio)
            await self.turn_done()
            return
        if entry.ack:
            await self.speak(entry.ack)
        did = new_id("deleg")
        if self.delegation == "responses":
            await self.backend(did, entry)
            return
        self.client_delegations[did] = entry
        created = {
            "type": "session.delegation.created",
            "offset_ms": self.now_ms,
            "delegation": {"id": did, "type": "delegation", "target": "client"},
        }
        await self.send(self._stamp(created))

    async def turn_done(self) -> None:
        self.answered += 1
        usage = {
            "type": "session.usage.updated",
            "usage": {"seconds": float(int(self.heard_ms / 1000))},
            "context_window": {"usage_ratio": min(1.0, 0.01 * self.answered)},
        }
        await self.send(self._stamp(usage))
        limit = self.server.expire_after_turns
        if limit is not None and self.answered >= limit:
            await self._closed("expired")

    async def speak(self, text: str, audio: bytes | None = None) -> None:
        """Stream an utterance: its audio with transcript fragments, then silence."""
        if audio is None:
            audio = tone(max(0.2, _WORD_SECONDS * len(text.split())), rate=self.rate)
        step = self.rate * 2 * self.server.chunk_ms // 1000
        chunks = [audio[i : i + step] for i in range(0, len(audio), step)] or [b""]
        words = text.split()
        per = max(1, -(-len(words) // len(chunks)))
        at = self.now_ms
        for i, chunk in enumerate(chunks):
            await self.send(
                {"type": "session.output_audio.delta", "delta": base64.b64encode(chunk).decode()}
            )
            said = words[i * per : (i + 1) * per]
            if said:
                delta = {
                    "type": "session.output_transcript.delta",
                    "delta": ("" if i == 0 else " ") + " ".join(said),
                    "start_ms": at + i * self.server.chunk_ms,
                    "end_ms": at + (i + 1) * self.server.chunk_ms,
                }
                await self.send(self._stamp(delta))
        silence = bytes(step)
        for _ in range(-(-self.server.trailing_silence_ms // self.server.chunk_ms)):
            await self.send(
                {"type": "session.output_audio.delta", "delta": base64.b64encode(silence).decode()}
            )
