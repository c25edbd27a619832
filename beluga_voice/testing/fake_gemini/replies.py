"""The fake Gemini server's reply side: per-connection state, scripted turns, barge-in.

Split from :mod:`.server` (handshake, dispatch, resumption) by meaning: this is what the
fake *says* once a turn has been detected, including the faults it injects mid-reply.
:class:`ReplyMixin` holds the methods; :class:`~.server.FakeGeminiServer` supplies the
configuration and ``_send``.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from ...audio.turns import EnergyTurnDetector
from .script import FakeSessionState, Faults, ScriptedTurn

OUTPUT_MIME = "audio/pcm;rate=24000"


@dataclass
class Conn:
    """One client connection: its session state, setup and what it is doing now."""

    ws: ServerConnection
    number: int
    state: FakeSessionState = field(default_factory=FakeSessionState)
    setup: dict[str, Any] | None = None
    index: int = -1
    vad: EnergyTurnDetector | None = None
    replying: anyio.CancelScope | None = None
    waiting_tool: str | None = None
    pending_turn: ScriptedTurn | None = None
    in_activity: bool = False
    audio_messages: int = 0
    went_away: bool = False
    send_lock: anyio.Lock = field(default_factory=anyio.Lock)

    @property
    def manual(self) -> bool:
        ric = (self.setup or {}).get("realtimeInputConfig") or {}
        # proto3 JSON takes either spelling, and the SDK sends this one in snake_case.
        aad = ric.get("automaticActivityDetection") or ric.get("automatic_activity_detection")
        return bool((aad or {}).get("disabled"))

    @property
    def transparent(self) -> bool:
        return bool(((self.setup or {}).get("sessionResumption") or {}).get("transparent"))


class ReplyMixin:
    """Turns and replies of :class:`~.server.FakeGeminiServer` (see its module docstring)."""

    turns: list[ScriptedTurn]
    faults: Faults
    chunk_ms: int
    pace: float
    interruptions: int

    async def _send(self, conn: Conn, message: dict[str, Any]) -> None:
        raise NotImplementedError  # the server validates, records and sends

    def _start_turn(self, conn: Conn, tg: anyio.abc.TaskGroup) -> None:
        turn = self.turns[conn.state.turns % len(self.turns)]
        conn.state.turns += 1
        self._spawn_reply(conn, tg, turn, True)

    def _spawn_reply(
        self, conn: Conn, tg: anyio.abc.TaskGroup, turn: ScriptedTurn, first_step: bool
    ) -> None:
        # The scope exists before the task runs, so a barge-in can cancel a reply that
        # has not sent anything yet, and two replies never overlap.
        if conn.replying is not None:
            conn.replying.cancel()
        scope = conn.replying = anyio.CancelScope()
        tg.start_soon(self._reply, conn, turn, first_step, scope)

    async def _barge_in(self, conn: Conn) -> None:
        if conn.replying is not None:
            conn.replying.cancel()
            conn.replying = None
            self.interruptions += 1
            await self._send(conn, {"serverContent": {"interrupted": True}})
            await self._send(conn, {"serverContent": {"turnComplete": True}})
        if conn.waiting_tool is not None:
            ids, conn.waiting_tool, conn.pending_turn = [conn.waiting_tool], None, None
            await self._send(conn, {"toolCallCancellation": {"ids": ids}})

    async def _reply(
        self, conn: Conn, turn: ScriptedTurn, first_step: bool, scope: anyio.CancelScope
    ) -> None:
        with scope:
            try:
                await self._reply_steps(conn, turn, first_step)
            except ConnectionClosed:
                pass
            finally:
                if conn.replying is scope:
                    conn.replying = None

    async def _reply_steps(self, conn: Conn, turn: ScriptedTurn, first_step: bool) -> None:
        faults = self.faults
        if first_step:
            if turn.user_transcript:
                words = turn.user_transcript.split(" ")
                half = max(1, len(words) // 2)
                for piece in (" ".join(words[:half]), " " + " ".join(words[half:])):
                    if piece.strip():
                        await self._content(conn, {"inputTranscription": {"text": piece}})
            if turn.tool_call is not None:
                name, args = turn.tool_call
                call_id = f"call-{conn.state.turns}"
                conn.waiting_tool, conn.pending_turn = call_id, turn
                await self._send(
                    conn,
                    {"toolCall": {"functionCalls": [{"id": call_id, "name": name, "args": args}]}},
                )
                return
        step = 24000 * self.chunk_ms // 1000 * 2
        chunks = [turn.audio[i : i + step] for i in range(0, len(turn.audio), step)]
        words = turn.transcript.split(" ") if turn.transcript else []
        per_chunk = math.ceil(len(words) / max(1, len(chunks))) if words else 0
        first = conn.number == 1
        for n, chunk in enumerate(chunks):
            if faults.stall_after_chunks is not None and n == faults.stall_after_chunks and first:
                await anyio.sleep_forever()
            if faults.malformed_after_chunks == n and first:
                await conn.ws.send(faults.malformed_payload)
            if faults.drop_after_chunks == n and first:
                conn.ws.transport.abort()
                return
            if faults.close_after_chunks and faults.close_after_chunks[0] == n and first:
                await conn.ws.close(*faults.close_after_chunks[1:])
                return
            content: dict[str, Any] = {
                "modelTurn": {
                    "parts": [
                        {
                            "inlineData": {
                                "mimeType": OUTPUT_MIME,
                                "data": base64.b64encode(chunk).decode(),
                            }
                        }
                    ]
                }
            }
            said = words[n * per_chunk : (n + 1) * per_chunk]
            if said:
                await self._content(conn, {"outputTranscription": {"text": " ".join(said) + " "}})
            await self._content(conn, content)
            if self.pace:
                # Playback pacing of the simulated model, not a synchronisation point.
                await anyio.sleep(self.pace * self.chunk_ms / 1000)
        await self._content(conn, {"generationComplete": True})
        conn.replying = None
        await self._content(conn, {"turnComplete": True})
        await self._send(
            conn,
            {
                "usageMetadata": {
                    "promptTokenCount": 10,
                    "responseTokenCount": 20,
                    "totalTokenCount": 30,
                }
            },
        )

    async def _content(self, conn: Conn, content: dict[str, Any]) -> None:
        await self._send(conn, {"serverContent": content})
