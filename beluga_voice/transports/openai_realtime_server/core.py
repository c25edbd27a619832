"""The sans-I/O protocol core of the OpenAI-compatible server: one client connection.

Client events go in (:meth:`RealtimeServerCore.receive`), backend session events go in
(:meth:`RealtimeServerCore.on_backend`), and out come server events for the client and
:mod:`actions <.actions>` for the backend, collected until :meth:`take` hands them over.
No socket, no clock, no task: the whole protocol is testable with plain calls.

State, explicitly:

- the session configuration (:class:`~.session.SessionState`) and whether the backend is
  ``closed``, ``opening`` or ``open``, with the settings it was opened with;
- the input buffer (bytes appended since the last commit) and the id the next user item
  will get, which ``speech_started`` already announces;
- the conversation: items by id, in order, each linked to the history turn it added;
- at most one response (:class:`~.responses.ResponseState`); a response the client
  cancelled or a barge-in cut is *discarded*: what the backend still sends for it is
  dropped, until the backend reports it ended;
- input held for the next ``response.create`` (user text items, tool outputs, a turn
  committed with ``turn_detection: null``), because OpenAI answers only when asked.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import OrderedDict
from typing import Any

from ...providers.errors import redact
from ...providers.types import ConversationContext, Turn, new_conversation_context
from .actions import (
    Action,
    EndTurn,
    Interrupt,
    OpenBackend,
    SendAudio,
    SendText,
    SendToolResult,
    Speak,
)
from .audio import InputConverter, OutputConverter, bytes_to_ms
from .backend_events import BackendEvents
from .responses import ResponseState, new_id
from .schema import (
    ConversationItemCreate,
    ConversationItemDelete,
    ConversationItemRetrieve,
    ConversationItemTruncate,
    EventProblem,
    FunctionCallOutput,
    InputAudioBufferAppend,
    InputAudioBufferClear,
    InputAudioBufferCommit,
    ResponseCancel,
    ResponseCreate,
    ResponseParams,
    SessionUpdate,
    UserMessage,
    parse_client_event,
)
from .session import BackendSettings, SessionState

__all__ = ["RealtimeServerCore"]


class RealtimeServerCore(BackendEvents):
    """See the module docstring.  ``max_items`` bounds the conversation kept for
    ``conversation.item.retrieve`` / ``truncate`` / ``delete`` (the oldest go first)."""

    def __init__(
        self,
        *,
        model: str = "gpt-realtime",
        voice: str = "marin",
        context: ConversationContext | None = None,
        max_items: int = 1000,
        max_held_bytes: int = 1 << 20,
    ) -> None:
        self.session = SessionState(model, voice)
        self.context = context or new_conversation_context()
        self.conversation_id = new_id("conv")
        self.max_items = max_items
        self.max_held_bytes = max_held_bytes
        self.backend_state = "closed"
        self.applied: BackendSettings | None = None
        self.backend_rate = 24000
        self.items: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.turns: dict[str, Turn] = {}
        self.audio_ms: dict[str, float] = {}
        self.response: ResponseState | None = None
        self.last_assistant_item: str | None = None
        self.user_item_id = new_id("item")
        self.buffered = 0
        self.awaiting_transcript: str | None = None
        self.partial_user = ""
        self.discard: set[str | None] = set()
        self.discarding = False
        self.cancel_next_start = False
        self.pending_texts: list[str] = []
        self.pending_results: list[tuple[str, str]] = []
        self.turn_pending = False
        self.protocol_errors = 0
        """Client messages refused as malformed or unknown (the shell limits them)."""
        self._events: list[dict[str, Any]] = []
        self._actions: list[Action] = []
        self._update_pending: str | bool | None = False
        self._held: list[bytes] = []
        self._held_bytes = 0
        self._in: InputConverter | None = None
        self._out = OutputConverter(self.session.output_format)

    # -- output ---------------------------------------------------------------------------

    def take(self) -> tuple[list[dict[str, Any]], list[Action]]:
        """The server events and backend actions produced since the last call, in order."""
        events, self._events = self._events, []
        actions, self._actions = self._actions, []
        return events, actions

    def emit(self, event: dict[str, Any]) -> None:
        self._events.append({"event_id": new_id("event"), **event})

    def error(
        self,
        message: str,
        code: str,
        *,
        param: str | None = None,
        event_id: str | None = None,
        kind: str = "invalid_request_error",
    ) -> None:
        """An ``error`` event in OpenAI's shape (the connection stays open)."""
        self.emit(
            {
                "type": "error",
                "error": {
                    "type": kind,
                    "code": code,
                    "message": redact(message),
                    "param": param,
                    "event_id": event_id,
                },
            }
        )

    def start(self) -> None:
        """The connection is open: greet with ``session.created``."""
        self.emit({"type": "session.created", "session": self.session.snapshot()})

    # -- client events ----------------------------------------------------------------------

    def receive(self, frame: str | bytes) -> None:
        """One WebSocket message from the client.  Never raises: a bad event is answered
        with an ``error`` event and not acted on."""
        if isinstance(frame, bytes):
            self.protocol_errors += 1
            self.error("binary frames are not part of this protocol", "invalid_event")
            return
        try:
            data = json.loads(frame)
        except (ValueError, RecursionError):
            self.protocol_errors += 1
            self.error("the message is not valid JSON", "invalid_json")
            return
        try:
            event = parse_client_event(data)
        except EventProblem as problem:
            self.protocol_errors += 1
            self.error(
                problem.message, problem.code, param=problem.param, event_id=problem.event_id
            )
            return
        handler = getattr(self, "_on_" + event.type.replace(".", "_"))
        handler(event)

    def _on_session_update(self, ev: SessionUpdate) -> None:
        new = self.session.merged(ev.session)
        wanted = new.backend_settings()
        if self.backend_state == "open" and wanted != self.applied and self._busy():
            self.error(
                "instructions, voice, tools and turn detection cannot change while a response "
                "is in progress",
                "conversation_already_has_active_response",
                event_id=ev.event_id,
            )
            return
        if new.input_format != self.session.input_format:
            self._in = None
        if new.output_format != self.session.output_format:
            self._out = OutputConverter(new.output_format)
        self.session = new
        if self.backend_state == "closed" or wanted != self.applied:
            self._update_pending = ev.event_id or True
            self._open_backend()
        else:
            self.emit({"type": "session.updated", "session": self.session.snapshot()})

    def _on_input_audio_buffer_append(self, ev: InputAudioBufferAppend) -> None:
        try:
            data = base64.b64decode(ev.audio, validate=True)
        except (binascii.Error, ValueError):
            self.error(
                "audio is not valid base64", "invalid_value", param="audio", event_id=ev.event_id
            )
            return
        if not data:
            return
        self.buffered += len(data)
        if self.backend_state != "open":
            if self._held_bytes + len(data) > self.max_held_bytes:
                self.error(
                    "too much audio before the backend opened; dropped",
                    "buffer_full",
                    event_id=ev.event_id,
                )
                return
            self._held.append(data)
            self._held_bytes += len(data)
            if self.backend_state == "closed":
                self._open_backend()
            return
        self._send_audio(data)

    def _on_input_audio_buffer_commit(self, ev: InputAudioBufferCommit) -> None:
        if not self.buffered:
            self.error(
                "Error committing input audio buffer: the buffer is empty",
                "input_audio_buffer_commit_empty",
                event_id=ev.event_id,
            )
            return
        self.commit_user_item()
        if self.session.turn_detection is None:
            self.turn_pending = True  # answered on response.create, as OpenAI does
        else:
            self._actions.append(EndTurn())

    def _on_input_audio_buffer_clear(self, ev: InputAudioBufferClear) -> None:
        self.buffered = 0
        self._held.clear()
        self._held_bytes = 0
        self.emit({"type": "input_audio_buffer.cleared"})

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

    def _on_response_create(self, ev: ResponseCreate) -> None:
        params = ev.response or ResponseParams()
        if self._busy():
            self.error(
                "Conversation already has an active response in progress",
                "conversation_already_has_active_response",
                event_id=ev.event_id,
            )
            return
        if self.backend_state == "closed":
            self._open_backend()
        if params.conversation == "none":
            text = out_of_band_text(params)
            if not text:
                self.error(
                    "an out-of-band response needs text to voice: an input message, or "
                    "instructions with the text between <say> tags",
                    "unsupported_parameter",
                    param="response.instructions",
                    event_id=ev.event_id,
                )
                return
            self._actions.append(Speak(text))
        else:
            if params.instructions is not None or params.input is not None:
                self.error(
                    "per-response instructions and input are supported only for out-of-band "
                    "responses (conversation: none)",
                    "unsupported_parameter",
                    param="response.instructions"
                    if params.instructions is not None
                    else "response.input",
                    event_id=ev.event_id,
                )
                return
            if not (self.pending_results or self.pending_texts or self.turn_pending):
                self.error(
                    "nothing new to respond to: add a user message, a function_call_output "
                    "or committed audio before response.create",
                    "response_create_without_input",
                    event_id=ev.event_id,
                )
                return
            for call_id, output in self.pending_results:
                self._actions.append(SendToolResult(call_id, output))
            if self.pending_texts:
                self._actions.append(SendText("\n".join(self.pending_texts)))
            if self.turn_pending:
                self._actions.append(EndTurn())
            self.pending_results, self.pending_texts, self.turn_pending = [], [], False
        self.start_response(None, params)

    def _on_response_cancel(self, ev: ResponseCancel) -> None:
        r = self.response
        if r is None:
            self.error(
                "Cancellation failed: no active response found",
                "response_cancel_not_active",
                event_id=ev.event_id,
            )
            return
        if ev.response_id is not None and ev.response_id != r.id:
            self.error(
                f"response {ev.response_id!r} is not the active response",
                "response_cancel_not_active",
                param="response_id",
                event_id=ev.event_id,
            )
            return
        self.cancel_response("client_cancelled")

    # -- backend lifecycle ------------------------------------------------------------------

    def backend_settings(self) -> BackendSettings:
        return self.session.backend_settings()

    def backend_opened(self, input_rate: int) -> None:
        """The shell opened the backend session (for :class:`~.actions.OpenBackend`)."""
        self.backend_state = "open"
        self.applied = self.backend_settings()
        self.backend_rate = input_rate
        self._in = None
        if self._update_pending is not False:
            self._update_pending = False
            self.emit({"type": "session.updated", "session": self.session.snapshot()})
        held, self._held, self._held_bytes = self._held, [], 0
        for data in held:
            self._send_audio(data)

    def backend_failed(self, message: str, code: str) -> None:
        """Opening the backend failed: the client hears why, and may try again."""
        event_id = self._update_pending if isinstance(self._update_pending, str) else None
        self.backend_state = "closed"
        self._update_pending = False
        dropped = self._held_bytes
        self._held, self._held_bytes = [], 0
        note = (
            f" ({bytes_to_ms(dropped, self.session.input_format):.0f} ms of audio dropped)"
            if dropped
            else ""
        )
        self.error(
            f"the voice backend could not start: {message}{note}",
            code,
            event_id=event_id,
            kind="server_error",
        )
        if self.response is not None:
            self.finish_response("failed", error={"type": "server_error", "code": code})

    # -- shared helpers -----------------------------------------------------------------------

    def _busy(self) -> bool:
        return self.response is not None

    def _open_backend(self) -> None:
        self.backend_state = "opening"
        self._actions.append(OpenBackend())

    def _send_audio(self, data: bytes) -> None:
        conv = self._in
        if conv is None:
            conv = self._in = InputConverter(self.session.input_format, self.backend_rate)
        pcm = conv(data)
        if pcm:
            self._actions.append(SendAudio(pcm))

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


def out_of_band_text(params: ResponseParams) -> str:
    """What an out-of-band response should voice: its input messages' text, else the
    text between ``<say>`` tags in its instructions (what beluga-voice's own client
    sends for ``speak``), else its instructions."""
    texts: list[str] = []
    for item in params.input or []:
        content = getattr(item, "content", None) or []
        texts += [part.text for part in content]
    if texts:
        return "\n".join(texts)
    instructions = params.instructions or ""
    start, end = instructions.rfind("<say>"), instructions.rfind("</say>")
    if start >= 0 and end > start:
        return instructions[start + 5 : end]
    return instructions.strip()
