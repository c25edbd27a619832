"""Sans-I/O core of one Nova Sonic stream: what to send, and what received events mean.

:class:`NovaProtocol` builds the client's event JSON (``{"event": {name: {...}}}``) in the
order Bedrock expects -- ``sessionStart``, ``promptStart``, the system prompt as a TEXT
content block, optional history blocks, one interactive AUDIO block fed by ``audioInput``
events, and the closing ``contentEnd`` / ``promptEnd`` / ``sessionEnd`` -- and maps the
server's events to provider-neutral session events.  It never touches a socket, so every
mapping is testable with plain dictionaries; the session shell does the signing and I/O.

One instance serves one Bedrock stream.  It appends what was said to ``history``, a list
the session owns and shares between its streams (the session's owner keeps the
:class:`~beluga_voice.conversation.ConversationContext` history itself), so that a
continuation stream can be seeded with what was said on the previous one.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...conversation import Turn
from ..dispatch import Dispatcher
from ..errors import ErrorCode, S2SError
from ..events import (
    AudioChunk,
    Interrupted,
    ResponseDone,
    ResponseStarted,
    SessionEvent,
    ToolCall,
    Transcript,
    Usage,
)
from .history import EXTERNAL_REASONING_NOTE, speak_instructions, truncate_heard
from .settings import NovaSettings

__all__ = ["INPUT_SAMPLE_RATE", "NovaProtocol"]

INPUT_SAMPLE_RATE = 16000
_IGNORED = frozenset({"completionEnd"})  # the stream's end says as much


@dataclass(slots=True)
class _Block:
    kind: str  # TEXT | AUDIO | TOOL
    role: str  # USER | ASSISTANT | TOOL | SYSTEM
    stage: str  # FINAL | SPECULATIVE


def _event(name: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"event": {name: body}}


class NovaProtocol:
    """Event builder and interpreter for one stream (see the module docstring)."""

    def __init__(
        self, settings: NovaSettings, history: list[Turn], *, external_reasoning: bool = False
    ) -> None:
        self.settings = settings
        self.history = history
        self.external_reasoning = external_reasoning
        """Another agent decides what to say: replies not asked for with :meth:`speak_events`
        are kept from the caller (Nova cannot be told not to answer, only to not be heard)."""
        self.solicited = 0
        self.suppressed = False
        self.prompt_name = str(uuid.uuid4())
        self.audio_content_name = str(uuid.uuid4())
        self.audio_open = False
        self._blocks: dict[str, _Block] = {}
        self.responding = False
        self.response_id: str | None = None
        self.completion_id: str | None = None
        self.response_audio_bytes = 0
        self.audio_input_bytes = 0
        self._dispatch = Dispatcher(
            "amazon_nova",
            {
                "completionStart": self._on_completionStart,
                "contentStart": self._on_contentStart,
                "textOutput": self._on_textOutput,
                "audioOutput": self._on_audioOutput,
                "toolUse": self._on_toolUse,
                "contentEnd": self._on_contentEnd,
                "usageEvent": self._on_usageEvent,
            },
            ignored=_IGNORED,
        )

    # -- client events -----------------------------------------------------------------------

    def _content_block(
        self, input_event: str, content: str, start: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """``contentStart`` (with ``start``'s fields), one ``input_event``, ``contentEnd``.

        Text and tool results are framed the same way on the wire; only the start's fields
        and the input event's name differ."""
        name = str(uuid.uuid4())
        p = self.prompt_name
        return [
            _event("contentStart", {"promptName": p, "contentName": name, **start}),
            _event(input_event, {"promptName": p, "contentName": name, "content": content}),
            _event("contentEnd", {"promptName": p, "contentName": name}),
        ]

    def _text_block(self, role: str, text: str, *, interactive: bool) -> list[dict[str, Any]]:
        start = {
            "type": "TEXT",
            "interactive": interactive,
            "role": role,
            "textInputConfiguration": {"mediaType": "text/plain"},
        }
        return self._content_block("textInput", text, start)

    def opening_events(self, history: Sequence[Turn] = ()) -> list[dict[str, Any]]:
        """Everything up to and including the interactive audio ``contentStart``."""
        s = self.settings
        session: dict[str, Any] = {
            "inferenceConfiguration": {
                "maxTokens": s.max_tokens,
                "topP": s.top_p,
                "temperature": s.temperature,
            }
        }
        if s.endpointing_sensitivity is not None:
            session["turnDetectionConfiguration"] = {
                "endpointingSensitivity": s.endpointing_sensitivity
            }
        prompt: dict[str, Any] = {
            "promptName": self.prompt_name,
            "textOutputConfiguration": {"mediaType": "text/plain"},
            "audioOutputConfiguration": {
                "mediaType": "audio/lpcm",
                "sampleRateHertz": s.output_sample_rate,
                "sampleSizeBits": 16,
                "channelCount": 1,
                "voiceId": s.voice_id,
                "encoding": "base64",
                "audioType": "SPEECH",
            },
            "toolUseOutputConfiguration": {"mediaType": "application/json"},
        }
        if s.tools:
            prompt["toolConfiguration"] = {
                "tools": [
                    {
                        "toolSpec": {
                            "name": t.name,
                            "description": t.description,
                            "inputSchema": {"json": json.dumps(t.input_schema)},
                        }
                    }
                    for t in s.tools
                ]
            }
        events = [_event("sessionStart", session), _event("promptStart", prompt)]
        system = s.system_prompt + (EXTERNAL_REASONING_NOTE if self.external_reasoning else "")
        events += self._text_block("SYSTEM", system, interactive=False)
        for turn in history:
            events += self._text_block(turn.role.upper(), turn.text, interactive=False)
        events.append(
            _event(
                "contentStart",
                {
                    "promptName": self.prompt_name,
                    "contentName": self.audio_content_name,
                    "type": "AUDIO",
                    "interactive": True,
                    "role": "USER",
                    "audioInputConfiguration": {
                        "mediaType": "audio/lpcm",
                        "sampleRateHertz": INPUT_SAMPLE_RATE,
                        "sampleSizeBits": 16,
                        "channelCount": 1,
                        "audioType": "SPEECH",
                        "encoding": "base64",
                    },
                },
            )
        )
        self.audio_open = True
        return events

    def audio_event(self, pcm: bytes) -> dict[str, Any]:
        self.audio_input_bytes += len(pcm)
        return _event(
            "audioInput",
            {
                "promptName": self.prompt_name,
                "contentName": self.audio_content_name,
                "content": base64.b64encode(pcm).decode("ascii"),
            },
        )

    def text_events(self, text: str) -> list[dict[str, Any]]:
        """A typed user message (Nova 2 Sonic's cross-modal input)."""
        return self._text_block("USER", text, interactive=True)

    def speak_events(self, text: str) -> list[dict[str, Any]]:
        """Ask Nova to voice ``text`` verbatim (external reasoning); its reply is let through."""
        self.solicited += 1
        return self._text_block("USER", speak_instructions(text), interactive=True)

    def tool_result_events(self, tool_use_id: str, output: str) -> list[dict[str, Any]]:
        start = {
            "interactive": False,
            "type": "TOOL",
            "role": "TOOL",
            "toolResultInputConfiguration": {
                "toolUseId": tool_use_id,
                "type": "TEXT",
                "textInputConfiguration": {"mediaType": "text/plain"},
            },
        }
        return self._content_block("toolResult", output, start)

    def closing_events(self) -> list[dict[str, Any]]:
        events = []
        if self.audio_open:
            events.append(
                _event(
                    "contentEnd",
                    {"promptName": self.prompt_name, "contentName": self.audio_content_name},
                )
            )
            self.audio_open = False
        events.append(_event("promptEnd", {"promptName": self.prompt_name}))
        events.append(_event("sessionEnd", {}))
        return events

    # -- server events -----------------------------------------------------------------------

    def on_event(self, message: dict[str, Any]) -> list[SessionEvent]:
        """Map one server event JSON to session events (unknown events map to nothing,
        reported by the :class:`~beluga_voice.providers.dispatch.Dispatcher`)."""
        body = message.get("event")
        if not isinstance(body, dict) or len(body) != 1:
            raise S2SError("receive", ErrorCode.MALFORMED_RESPONSE, "event without one name")
        ((name, data),) = body.items()
        if not isinstance(data, dict):
            raise S2SError("receive", ErrorCode.MALFORMED_RESPONSE, f"{name}: body not an object")
        events = self._dispatch(name, data)
        if self.suppressed:
            # An unsolicited reply under external reasoning: only the user's side passes.
            events = [
                e for e in events if isinstance(e, Usage) or getattr(e, "role", None) == "user"
            ]
            if not self.responding:
                self.suppressed = False
        return events

    def _on_completionStart(self, data: dict[str, Any]) -> list[SessionEvent]:
        self.completion_id = data.get("completionId")
        return []

    def _on_contentStart(self, data: dict[str, Any]) -> list[SessionEvent]:
        stage = "FINAL"
        extra = data.get("additionalModelFields")
        if isinstance(extra, str) and extra:
            try:
                stage = str(json.loads(extra).get("generationStage", "FINAL"))
            except (ValueError, AttributeError):
                stage = "FINAL"
        block = _Block(str(data.get("type", "")), str(data.get("role", "")), stage)
        self._blocks[str(data.get("contentId", ""))] = block
        if block.role == "ASSISTANT" and not self.responding:
            self.responding = True
            self.response_audio_bytes = 0
            self.response_id = f"resp-{uuid.uuid4().hex[:12]}"
            if self.external_reasoning:
                self.suppressed = self.solicited == 0
                self.solicited = max(0, self.solicited - 1)
            return [ResponseStarted(self.response_id)]
        return []

    def _block(self, data: dict[str, Any]) -> _Block:
        block = self._blocks.get(str(data.get("contentId", "")))
        if block is None:
            role = str(data.get("role", "ASSISTANT"))
            block = _Block("TEXT", role, "FINAL")
        return block

    def _on_textOutput(self, data: dict[str, Any]) -> list[SessionEvent]:
        text = str(data.get("content", ""))
        if text.lstrip().startswith("{"):
            try:
                if json.loads(text).get("interrupted") is True:
                    return self._interrupted()
            except (ValueError, AttributeError):
                pass
        block = self._block(data)
        final = block.stage != "SPECULATIVE"
        if block.role == "USER":
            if final:
                self.history.append(Turn("user", text))
            return [Transcript("user", text, final=final)]
        if final and not self.suppressed:
            self.history.append(Turn("assistant", text))
        return [Transcript("assistant", text, final=final, item_id=self.response_id)]

    def _on_audioOutput(self, data: dict[str, Any]) -> list[SessionEvent]:
        try:
            audio = base64.b64decode(str(data.get("content", "")), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise S2SError(
                "receive", ErrorCode.MALFORMED_RESPONSE, "audioOutput is not base64", cause=exc
            ) from exc
        self.response_audio_bytes += len(audio)
        return [
            AudioChunk(
                audio, sample_rate=self.settings.output_sample_rate, response_id=self.response_id
            )
        ]

    def _on_toolUse(self, data: dict[str, Any]) -> list[SessionEvent]:
        call_id = str(data.get("toolUseId", ""))
        name = str(data.get("toolName", ""))
        if not call_id or not name:
            raise S2SError("receive", ErrorCode.MALFORMED_RESPONSE, "toolUse without id or name")
        content = data.get("content", "{}")
        arguments = content if isinstance(content, str) else json.dumps(content)
        self.history.append(Turn("tool", f"{name}({arguments})"))
        return [ToolCall(call_id=call_id, name=name, arguments=arguments)]

    def _on_contentEnd(self, data: dict[str, Any]) -> list[SessionEvent]:
        block = self._blocks.pop(str(data.get("contentId", "")), None)
        reason = str(data.get("stopReason", ""))
        if reason == "INTERRUPTED":
            return self._interrupted()
        if (
            reason == "END_TURN"
            and self.responding
            and block is not None
            and block.role == "ASSISTANT"
            and block.kind == "TEXT"
            and block.stage == "FINAL"
        ):
            self.responding = False
            return [
                AudioChunk(
                    b"",
                    sample_rate=self.settings.output_sample_rate,
                    is_final=True,
                    response_id=self.response_id,
                ),
                ResponseDone(self.response_id, "completed"),
            ]
        return []

    def _interrupted(self) -> list[SessionEvent]:
        if not self.responding:
            return []
        self.responding = False
        return [
            Interrupted(self.response_id),
            ResponseDone(self.response_id, "cancelled", reason="interrupted"),
        ]

    def _on_usageEvent(self, data: dict[str, Any]) -> list[SessionEvent]:
        def number(key: str) -> int:
            value = data.get(key, 0)
            if isinstance(value, float) and math.isfinite(value):
                return int(value)
            return value if isinstance(value, int) and not isinstance(value, bool) else 0

        details = data.get("details")
        return [
            Usage(
                input_tokens=number("totalInputTokens"),
                output_tokens=number("totalOutputTokens"),
                total_tokens=number("totalTokens"),
                details=dict(details) if isinstance(details, dict) else {},
            )
        ]

    # -- barge-in bookkeeping ----------------------------------------------------------------

    def truncate_heard(self, played_ms: float | None) -> None:
        """Cut the last assistant turn of the history to what was heard of the reply.

        Nova keeps its own memory of what it said and offers no truncate call; this keeps
        *our* history honest, which is what a continuation stream is seeded with.
        """
        rate = self.settings.output_sample_rate
        truncate_heard(self.history, self.response_audio_bytes / (2 * rate) * 1000, played_ms)
