"""The fake's behaviour on one stream: check the client's event sequence, answer turns.

It listens to the audio with :class:`~beluga_voice.audio.turns.EnergyTurnDetector`, the
way Bedrock's own endpointing listens: quiet after speech ends a user turn, speech during a
reply is a barge-in.  Replies are streamed by a task of their own so that audio keeps being
read (and barge-in detected) while the fake speaks.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.abc

from ...audio.turns import EnergyTurnDetector, TurnEvent, tone
from .script import Script, StreamRecord

__all__ = ["Conversation", "ProtocolViolation"]

Send = Callable[[dict[str, Any]], Awaitable[None]]
_SAY = re.compile(r"<say>((?:(?!<say>).)*)</say>\s*$", re.DOTALL)  # the last fenced text


class ProtocolViolation(Exception):
    """The client broke the event protocol; Bedrock answers a validationException."""


class Conversation:
    """One stream's conversation state (see the module docstring)."""

    def __init__(
        self,
        record: StreamRecord,
        script: Script,
        send: Send,
        task_group: anyio.abc.TaskGroup,
        next_turn: Callable[[], int],
    ) -> None:
        self.record = record
        self.script = script
        self._send = send
        self._tg = task_group
        self._next_turn = next_turn
        self._prompt: str | None = None
        self._blocks: dict[str, tuple[str, str, bool]] = {}
        self._audio_block: str | None = None
        self._vad = EnergyTurnDetector(
            16000, threshold_rms=script.speech_rms, silence_ms=script.silence_ms
        )
        self._reply_scope: anyio.CancelScope | None = None
        self._open_reply_block: str | None = None
        self._waiting_tool: str | None = None
        self._completion_sent = False
        self._replying = False
        self.stopped = False

    # -- inbound ------------------------------------------------------------------------------

    async def on_event(self, event: dict[str, Any]) -> None:
        body = event.get("event")
        if not isinstance(body, dict) or len(body) != 1:
            raise ProtocolViolation("an event must be {'event': {name: {...}}}")
        ((name, data),) = body.items()
        if not isinstance(data, dict):
            raise ProtocolViolation(f"{name}: the event body must be an object")
        self.record.events.append(name)
        events = self.record.events
        if name == "sessionStart":
            if len(events) != 1:
                raise ProtocolViolation("sessionStart must be the first event")
            self.record.session_start = data
            return
        if len(events) == 2 and name != "promptStart":
            raise ProtocolViolation("promptStart must follow sessionStart")
        if name == "promptStart":
            self._prompt = data.get("promptName")
            self.record.prompt_start = data
            return
        if name in ("sessionEnd",):
            return
        if data.get("promptName") != self._prompt:
            raise ProtocolViolation(f"{name}: unknown promptName")
        handler = getattr(self, f"_on_{name}", None)
        if handler is None:
            raise ProtocolViolation(f"unknown event {name}")
        await handler(data)

    async def _on_contentStart(self, data: dict[str, Any]) -> None:
        name = str(data.get("contentName"))
        kind, role = str(data.get("type")), str(data.get("role"))
        interactive = bool(data.get("interactive"))
        if kind == "AUDIO":
            if role != "USER" or not interactive:
                raise ProtocolViolation("the audio block must be interactive USER input")
            if data.get("audioInputConfiguration", {}).get("sampleRateHertz") != 16000:
                raise ProtocolViolation("audio input must be 16 kHz")
            if self._audio_block is not None:
                raise ProtocolViolation("only one audio content block at a time")
            self._audio_block = name
        elif len(self.record.events) == 3 and role != "SYSTEM":
            raise ProtocolViolation("the system prompt must be the first content block")
        self._blocks[name] = (kind, role, interactive)

    async def _on_textInput(self, data: dict[str, Any]) -> None:
        block = self._blocks.get(str(data.get("contentName")))
        if block is None or block[0] != "TEXT":
            raise ProtocolViolation("textInput outside a TEXT content block")
        text = str(data.get("content", ""))
        _, role, interactive = block
        if role == "SYSTEM":
            self.record.system_prompt = text
        elif interactive and role == "USER":
            self.record.texts.append(text)
            await self._start_turn(text)
        else:
            self.record.history.append((role, text))

    async def _on_audioInput(self, data: dict[str, Any]) -> None:
        if data.get("contentName") != self._audio_block:
            raise ProtocolViolation("audioInput outside the audio content block")
        try:
            pcm = base64.b64decode(str(data.get("content", "")), validate=True)
        except ValueError:
            raise ProtocolViolation("audioInput is not base64") from None
        self.record.audio += pcm
        for turn_event in self._vad.feed(pcm):
            if turn_event is TurnEvent.SPEECH_STARTED and self._reply_scope is not None:
                await self._barge_in()
            elif turn_event is TurnEvent.SPEECH_STOPPED and self._waiting_tool is None:
                await self._user_transcript()
                await self._start_turn(self.script.user_text)

    async def _on_toolResult(self, data: dict[str, Any]) -> None:
        block = self._blocks.get(str(data.get("contentName")))
        if block is None or block[0] != "TOOL":
            raise ProtocolViolation("toolResult outside a TOOL content block")
        output = str(data.get("content", ""))
        call_id = self._waiting_tool or ""
        self.record.tool_results.append((call_id, output))
        if self._waiting_tool is not None:
            self._waiting_tool = None
            self._spawn(self._reply(f"{self.script.reply_text} The tool said: {output}"))

    async def _on_contentEnd(self, data: dict[str, Any]) -> None:
        name = str(data.get("contentName"))
        if self._blocks.pop(name, None) is None:
            raise ProtocolViolation("contentEnd for a block that is not open")
        if name == self._audio_block:
            self._audio_block = None

    async def _on_promptEnd(self, data: dict[str, Any]) -> None:
        self.cancel_reply()

    # -- outbound -----------------------------------------------------------------------------

    async def _emit(self, name: str, body: dict[str, Any]) -> None:
        if not self.stopped:
            await self._send({"event": {name: body}})

    async def _content(self, kind: str, role: str, stage: str | None = None) -> str:
        content_id = str(uuid.uuid4())
        body: dict[str, Any] = {"contentId": content_id, "type": kind, "role": role}
        if stage is not None:
            body["additionalModelFields"] = json.dumps({"generationStage": stage})
        await self._emit("contentStart", body)
        return content_id

    async def _user_transcript(self) -> None:
        cid = await self._content("TEXT", "USER", "FINAL")
        await self._emit(
            "textOutput", {"contentId": cid, "role": "USER", "content": self.script.user_text}
        )
        await self._emit("contentEnd", {"contentId": cid, "stopReason": "END_TURN"})

    def _spawn(self, coro: Awaitable[None]) -> None:
        scope = anyio.CancelScope()
        self._reply_scope = scope

        async def run() -> None:
            with scope:
                await coro
            if self._reply_scope is scope:
                self._reply_scope = None

        self._tg.start_soon(run)

    async def _start_turn(self, text: str) -> None:
        if self._reply_scope is not None:
            await self._barge_in()  # a new turn cuts the reply in progress, as Nova does
        self.record.turns += 1
        turn = self._next_turn()
        tool = self.script.tool_turns.get(turn)
        said = _SAY.search(text)
        if tool is not None:
            self._spawn(self._ask_tool(*tool))
        elif said is not None:
            self.record.spoken.append(said[1])
            self._spawn(self._reply(said[1]))  # "read this aloud": the model obeys
        else:
            self._spawn(self._reply(self.script.reply_text))

    async def _ask_tool(self, name: str, arguments: str) -> None:
        await self._completion()
        call_id = f"tool-{uuid.uuid4().hex[:8]}"
        self._waiting_tool = call_id
        cid = await self._content("TOOL", "ASSISTANT")
        await self._emit(
            "toolUse",
            {"contentId": cid, "toolName": name, "toolUseId": call_id, "content": arguments},
        )
        await self._emit("contentEnd", {"contentId": cid, "stopReason": "TOOL_USE"})

    async def _completion(self) -> None:
        if not self._completion_sent:
            self._completion_sent = True
            await self._emit("completionStart", {"completionId": str(uuid.uuid4())})

    async def _reply(self, text: str) -> None:
        s = self.script
        await self._completion()
        self._replying = True
        cid = await self._content("TEXT", "ASSISTANT", "SPECULATIVE")
        await self._emit("textOutput", {"contentId": cid, "role": "ASSISTANT", "content": text})
        await self._emit("contentEnd", {"contentId": cid, "stopReason": "PARTIAL_TURN"})
        rate = int(
            self.record.prompt_start.get("audioOutputConfiguration", {}).get(
                "sampleRateHertz", 24000
            )
        )
        audio = tone(s.reply_seconds, rate=rate)
        step = rate * s.chunk_ms // 1000 * 2
        cid = await self._content("AUDIO", "ASSISTANT")
        self._open_reply_block = cid
        for i in range(0, len(audio), step):
            await self._emit(
                "audioOutput",
                {"contentId": cid, "content": base64.b64encode(audio[i : i + step]).decode()},
            )
            if s.pace:
                await anyio.sleep(s.pace * s.chunk_ms / 1000)
        self._open_reply_block = None
        await self._emit("contentEnd", {"contentId": cid, "stopReason": "END_TURN"})
        cid = await self._content("TEXT", "ASSISTANT", "FINAL")
        await self._emit("textOutput", {"contentId": cid, "role": "ASSISTANT", "content": text})
        await self._emit("contentEnd", {"contentId": cid, "stopReason": "END_TURN"})
        self._replying = False
        await self._emit(
            "usageEvent",
            {"totalInputTokens": 10, "totalOutputTokens": 20, "totalTokens": 30, "details": {}},
        )

    async def _barge_in(self) -> None:
        open_block = self._open_reply_block
        self.cancel_reply()
        self.record.barge_ins += 1
        if open_block is not None:
            await self._emit("contentEnd", {"contentId": open_block, "stopReason": "INTERRUPTED"})
        elif self._replying:  # between blocks: Nova's other way of saying it
            cid = await self._content("TEXT", "ASSISTANT", "SPECULATIVE")
            marker = '{ "interrupted" : true }'
            await self._emit(
                "textOutput", {"contentId": cid, "role": "ASSISTANT", "content": marker}
            )
            await self._emit("contentEnd", {"contentId": cid, "stopReason": "PARTIAL_TURN"})
        self._replying = False

    def cancel_reply(self) -> None:
        if self._reply_scope is not None:
            self._reply_scope.cancel()
            self._reply_scope = None
        self._open_reply_block = None
