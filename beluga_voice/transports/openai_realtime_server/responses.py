"""One response as the client sees it: its output items and the events that describe them.

A :class:`ResponseState` is created when a response starts (``response.created``) and
builds every event of its life in OpenAI's order: ``response.output_item.added`` ->
``conversation.item.added`` -> ``response.content_part.added`` -> audio and transcript
deltas -> ``response.output_audio.done`` -> ``response.output_audio_transcript.done`` ->
``response.content_part.done`` -> ``response.output_item.done`` ->
``conversation.item.done`` -> ``response.done`` (with usage).  Function calls are output
items of their own.  Everything here is pure bookkeeping: no I/O, no clock.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["ResponseState", "new_id"]

Status = Literal["completed", "cancelled", "failed", "incomplete"]
Emit = list[dict[str, Any]]


def new_id(prefix: str) -> str:
    """An id in OpenAI's style: ``item_...``, ``resp_...``, ``event_...``."""
    return f"{prefix}_{secrets.token_hex(10)}"


@dataclass(slots=True)
class ResponseState:
    """A response in progress; see the module docstring."""

    id: str
    in_conversation: bool
    """False for an out-of-band response (``conversation: "none"``)."""
    conversation_id: str
    metadata: dict[str, str] | None
    voice: str
    output_format: dict[str, Any]
    backend_id: str | None = None
    output: list[dict[str, Any]] = field(default_factory=list)
    audio_item: dict[str, Any] | None = None
    audio_ms: float = 0.0
    pieces: list[str] = field(default_factory=list)
    final_transcript: str | None = None
    usage: dict[str, int] = field(
        default_factory=lambda: {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    )

    # -- start ------------------------------------------------------------------------------

    def created(self) -> dict[str, Any]:
        return {"type": "response.created", "response": self._body("in_progress", None)}

    def open_audio_item(self, previous_item_id: str | None) -> Emit:
        item_id = new_id("item")
        self.audio_item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        index = len(self.output)
        self.output.append(self.audio_item)
        out: Emit = [
            {
                "type": "response.output_item.added",
                "response_id": self.id,
                "output_index": index,
                "item": dict(self.audio_item, content=[]),
            }
        ]
        if self.in_conversation:
            out.append(
                {
                    "type": "conversation.item.added",
                    "previous_item_id": previous_item_id,
                    "item": dict(self.audio_item, content=[]),
                }
            )
        out.append(
            {
                **self._part_base(),
                "type": "response.content_part.added",
                "part": {"type": "audio", "transcript": ""},
            }
        )
        return out

    # -- deltas -----------------------------------------------------------------------------

    def audio_delta(self, wire: bytes, ms: float) -> dict[str, Any]:
        self.audio_ms += ms
        return {
            **self._part_base(),
            "type": "response.output_audio.delta",
            "delta": base64.b64encode(wire).decode("ascii"),
        }

    def transcript_delta(self, piece: str) -> dict[str, Any] | None:
        """A piece of the assistant's transcript, spaced after a finished sentence."""
        if not piece:
            return None
        if self.pieces and self.pieces[-1][-1:] in ".!?,;:" and not piece[:1].isspace():
            piece = " " + piece
        self.pieces.append(piece)
        return {
            **self._part_base(),
            "type": "response.output_audio_transcript.delta",
            "delta": piece,
        }

    @property
    def transcript(self) -> str:
        return self.final_transcript if self.final_transcript is not None else "".join(self.pieces)

    # -- function calls ---------------------------------------------------------------------

    def function_call(
        self, call_id: str, name: str, arguments: str, previous_item_id: str | None
    ) -> tuple[Emit, dict[str, Any]]:
        item = {
            "id": new_id("item"),
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "call_id": call_id,
            "name": name,
            "arguments": "",
        }
        index = len(self.output)
        self.output.append(item)
        base = {"response_id": self.id, "item_id": item["id"], "output_index": index}
        done = dict(item, status="completed", arguments=arguments)
        out: Emit = [
            {
                "type": "response.output_item.added",
                "response_id": self.id,
                "output_index": index,
                "item": dict(item),
            },
        ]
        if self.in_conversation:
            out.append(
                {
                    "type": "conversation.item.added",
                    "previous_item_id": previous_item_id,
                    "item": dict(item),
                }
            )
        out += [
            {
                "type": "response.function_call_arguments.delta",
                **base,
                "call_id": call_id,
                "delta": arguments,
            },
            {
                "type": "response.function_call_arguments.done",
                **base,
                "call_id": call_id,
                "name": name,
                "arguments": arguments,
            },
            {
                "type": "response.output_item.done",
                "response_id": self.id,
                "output_index": index,
                "item": done,
            },
        ]
        if self.in_conversation:
            out.append(
                {
                    "type": "conversation.item.done",
                    "previous_item_id": previous_item_id,
                    "item": done,
                }
            )
        self.output[index] = done
        return out, done

    # -- end --------------------------------------------------------------------------------

    def finish(
        self, status: Status, reason: str | None = None, error: dict[str, Any] | None = None
    ) -> tuple[Emit, dict[str, Any] | None]:
        """Close open items and end the response; returns the events and the final audio item."""
        out: Emit = []
        item = self.audio_item
        final_item: dict[str, Any] | None = None
        if item is not None:
            transcript = self.transcript
            if transcript and not self.pieces:  # the backend gave no deltas: one now
                out.append(
                    {
                        **self._part_base(),
                        "type": "response.output_audio_transcript.delta",
                        "delta": transcript,
                    }
                )
            base = self._part_base()
            part = {"type": "audio", "transcript": transcript}
            final_item = dict(
                item,
                status="completed" if status == "completed" else "incomplete",
                content=[{"type": "output_audio", "transcript": transcript}],
            )
            self.output[self.output.index(item)] = final_item
            out += [
                {**base, "type": "response.output_audio.done"},
                {**base, "type": "response.output_audio_transcript.done", "transcript": transcript},
                {**base, "type": "response.content_part.done", "part": part},
                {
                    "type": "response.output_item.done",
                    "response_id": self.id,
                    "output_index": base["output_index"],
                    "item": final_item,
                },
            ]
            if self.in_conversation:
                out.append({"type": "conversation.item.done", "item": final_item})
        details: dict[str, Any] | None = None
        if status == "cancelled":
            details = {"type": "cancelled", "reason": reason or "client_cancelled"}
        elif status == "incomplete":
            details = {"type": "incomplete", "reason": reason or "interruption"}
        elif status == "failed":
            details = {
                "type": "failed",
                "error": error or {"type": "server_error", "code": "internal_error"},
            }
        out.append({"type": "response.done", "response": self._body(status, details)})
        return out, final_item

    # -- helpers ----------------------------------------------------------------------------

    def _part_base(self) -> dict[str, Any]:
        assert self.audio_item is not None
        return {
            "response_id": self.id,
            "item_id": self.audio_item["id"],
            "output_index": self.output.index(self.audio_item),
            "content_index": 0,
        }

    def _body(self, status: str, details: dict[str, Any] | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "realtime.response",
            "status": status,
            "status_details": details,
            "output": [dict(i) for i in self.output] if status != "in_progress" else [],
            "conversation_id": self.conversation_id if self.in_conversation else None,
            "output_modalities": ["audio"],
            "audio": {"output": {"format": dict(self.output_format), "voice": self.voice}},
            "max_output_tokens": "inf",
            "metadata": self.metadata,
        }
        if status != "in_progress":
            body["usage"] = {
                **self.usage,
                "input_token_details": {"audio_tokens": 0, "cached_tokens": 0, "text_tokens": 0},
                "output_token_details": {"audio_tokens": 0, "text_tokens": 0},
            }
        return body
