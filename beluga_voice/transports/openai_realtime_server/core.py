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

from ...conversation import ConversationContext, Turn, new_conversation_context
from .actions import (
    Action,
    EndTurn,
    OpenBackend,
    SendAudio,
    SendText,
    SendToolResult,
    Speak,
)
from .audio import InputConverter, OutputConverter, bytes_to_ms
from .backend_events import BackendEvents
from .items import ConversationItems
from .responses import ResponseState, new_id
from .schema import (
    EventProblem,
    InputAudioBufferAppend,
    InputAudioBufferClear,
    InputAudioBufferCommit,
    ResponseCancel,
    ResponseCreate,
    ResponseParams,
    SessionUpdate,
    parse_client_event,
)
from .session import BackendSettings, SessionState

__all__ = ["RealtimeServerCore"]


class RealtimeServerCore(ConversationItems, BackendEvents):
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
        super().__init__()
        self._update_pending: str | bool | None = False
        self._held: list[bytes] = []
        self._held_bytes = 0
        self._in: InputConverter | None = None
        self._out = OutputConverter(self.session.output_format)

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
        if (new.turn_detection or {}).get("create_response") is False:
            # Every backend answers a finished turn by itself; pretending otherwise would
            # leave the client waiting for a reply that is already on its way.
            self.error(
                "create_response: false is not supported; use turn_detection: null and "
                "commit + response.create to decide when to answer",
                "unsupported_parameter",
                param="session.audio.input.turn_detection.create_response",
                event_id=ev.event_id,
            )
            return
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

    def _on_response_create(self, ev: ResponseCreate) -> None:
        params = ev.response or ResponseParams()
        if self._busy():
            self.error(
                "Conversation already has an active response in progress",
                "conversation_already_has_active_response",
                event_id=ev.event_id,
            )
            return
        work: list[Action] = []
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
            work.append(Speak(text))
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
            work += [SendToolResult(call_id, output) for call_id, output in self.pending_results]
            if self.pending_texts:
                work.append(SendText("\n".join(self.pending_texts)))
            if self.turn_pending:
                work.append(EndTurn())
            self.pending_results, self.pending_texts, self.turn_pending = [], [], False
        if self.backend_state == "closed":
            self._open_backend()
        self._actions += work
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

    def backend_opened(self, input_rate: int, *, tools: bool = True) -> None:
        """The shell opened the backend session (for :class:`~.actions.OpenBackend`);
        ``tools`` says whether it can call the client's tools."""
        if self.session.data["tools"] and not tools:
            self.error(
                "this voice backend cannot call tools: the session's tools will not be used",
                "unsupported_parameter",
                param="session.tools",
                event_id=self._update_pending if isinstance(self._update_pending, str) else None,
            )
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
