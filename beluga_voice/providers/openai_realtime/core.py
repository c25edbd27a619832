"""The sans-I/O protocol core shared by ``openai_realtime`` and ``grok``.

:class:`RealtimeProtocol` never touches a socket.  Client operations (``audio``,
``commit``, ``text``, ``speak``, ``tool_result``, ``interrupt``) queue wire messages in
an outbox that the I/O shell drains with :meth:`RealtimeProtocol.take_outbound`; server
messages go in through :meth:`RealtimeProtocol.receive`, which returns provider-neutral
session events and may queue follow-up messages (the ``response.create`` that answers a
finished round of tool calls).  This keeps every protocol decision testable with plain
function calls, like ``h11`` and ``websockets``' own protocol layer.

The core also keeps what a new connection needs to continue the conversation: the
history (in the session's :class:`ConversationContext`) and the user audio the server
has not yet acknowledged, so that a reconnect or a session rotation loses nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from ..errors import ErrorCode, S2SError
from ..events import (
    AudioChunk,
    Interrupted,
    ResponseDone,
    ResponseStarted,
    SessionError,
    SessionEvent,
    SessionReady,
    SpeechStarted,
    SpeechStopped,
    ToolCall,
    Transcript,
    Usage,
)
from ..types import Turn
from .dialect import Dialect
from .history import history_items, speak_instructions
from .playback import ReplyAudio
from .settings import RealtimeSettings

__all__ = ["Outbound", "RealtimeProtocol"]

log = logging.getLogger(__name__)

Outbound = dict[str, Any] | bytes
"""A wire message: a JSON event, or raw PCM for Grok's binary audio transport."""

_STATUSES = ("completed", "cancelled", "failed", "incomplete")


class RealtimeProtocol:
    """Protocol state of one conversation, across all the connections that carry it."""

    def __init__(
        self,
        dialect: Dialect,
        settings: RealtimeSettings,
        history: list[Turn],
        *,
        auto_respond: bool = True,
    ) -> None:
        self.dialect = dialect
        self.settings = settings
        self.history = list(history)  # our own copy: the S2S processor owns ctx.history
        self.auto_respond = auto_respond
        self.rate = dialect.sample_rate(settings)
        self.binary = dialect.binary_audio(settings)
        self.local_turns = settings.vad == "none"
        self._outbox: list[Outbound] = []
        # Conversation state that survives a reconnect.
        self.ready = False
        self._announced = False
        self.session_id: str | None = None
        self.response_id: str | None = None
        self.response_requested = False
        self.user_speaking = False
        self.expired = False
        self.fatal: S2SError | None = None
        self.replayed_bytes = 0
        self._out_of_band: set[str] = set()
        self._reply = ReplyAudio(self.rate)
        self._reply_oob = False
        self._item_id: str | None = None
        self._pending_calls: set[str] = set()
        self._seen_calls: set[str] = set()
        self._respond_when_done = False
        self._partial: dict[tuple[str, str], str] = {}
        self._assistant_turns: dict[str, Turn] = {}
        # User audio the server has not acknowledged with ``input_audio_buffer.committed``.
        self._unacked: deque[bytes] = deque()
        self._unacked_bytes = 0
        self._since_commit = 0
        self._commit_pending = False
        self._speak_pending: str | None = None
        self._live_speak: str | None = None
        self._cancel_sent = False
        self._handlers: dict[str, Callable[[dict[str, Any]], list[SessionEvent]]] = {
            "session.created": self._on_session_created,
            "session.updated": self._on_session_updated,
            "input_audio_buffer.speech_started": self._on_speech_started,
            "input_audio_buffer.speech_stopped": self._on_speech_stopped,
            "input_audio_buffer.committed": self._on_committed,
            "conversation.item.input_audio_transcription.delta": self._on_user_delta,
            "conversation.item.input_audio_transcription.completed": self._on_user_done,
            "conversation.item.input_audio_transcription.failed": self._on_user_failed,
            "response.created": self._on_response_created,
            "response.output_item.added": self._on_item_added,
            "response.output_audio.delta": self._on_audio,
            "response.output_audio.done": self._on_audio_done,
            "response.output_audio_transcript.delta": self._on_assistant_delta,
            "response.output_text.delta": self._on_assistant_delta,
            "response.output_audio_transcript.done": self._on_assistant_done,
            "response.output_text.done": self._on_assistant_done,
            "response.function_call_arguments.done": self._on_function_call,
            "response.done": self._on_response_done,
            "error": self._on_error,
        }

    # -- outbox -----------------------------------------------------------------------------

    def take_outbound(self) -> list[Outbound]:
        """Wire messages queued since the last call, in order."""
        out, self._outbox = self._outbox, []
        return out

    def requeue(self, messages: list[Outbound]) -> None:
        """Put back messages that could not be sent (no connection): they go out first."""
        self._outbox[:0] = messages

    @property
    def response_live(self) -> bool:
        return self.response_id is not None or self.response_requested

    @property
    def idle(self) -> bool:
        """Nothing in flight: a good moment to move to a new connection."""
        return not (self.response_live or self.user_speaking or self._pending_calls)

    # -- client operations ------------------------------------------------------------------

    def open(self) -> None:
        """Configure a new connection and re-seed it with the conversation so far.

        On a reconnect, unacknowledged user audio is replayed and a reply that the drop
        cut short is asked for again.
        """
        self._outbox = [m for m in self._outbox if not _is_append(m)]
        queued, self._outbox = self._outbox, []
        session = self.dialect.session(self.settings, auto_respond=self.auto_respond)
        self._outbox.append({"type": "session.update", "session": session})
        turns = self.history[-self.settings.reseed_max_turns :] if self.history else []
        for item in history_items(turns):
            self._outbox.append({"type": "conversation.item.create", "item": item})
        for chunk in self._unacked:
            self._outbox.append(self._append_message(chunk))
        self.replayed_bytes = self._unacked_bytes
        # A reply cut short (or asked for and never started) is asked for again; a
        # verbatim line is spoken again from its start.
        if self.response_id in self._out_of_band:
            respeak = self._live_speak
        else:
            respeak = self._speak_pending if self.response_requested else None
        redo_reply = respeak is None and (self.response_id is not None or self.response_requested)
        self.response_id = None
        self.response_requested = False
        self.user_speaking = False
        self._since_commit = self._unacked_bytes
        if self._commit_pending and self._unacked_bytes:
            self._outbox.append({"type": "input_audio_buffer.commit"})
            redo_reply = redo_reply or self.auto_respond
        if respeak is not None:
            self.speak(respeak)
        elif redo_reply:
            self._request_response()
        self._outbox.extend(queued)

    def audio(self, pcm: bytes) -> None:
        if len(pcm) % 2:
            raise S2SError("send_audio", ErrorCode.INVALID_AUDIO_FORMAT, "odd byte count for PCM16")
        if not pcm:
            return
        pcm = bytes(pcm)
        self._unacked.append(pcm)
        self._unacked_bytes += len(pcm)
        self._since_commit += len(pcm)
        limit = self.settings.replay_max_ms * self.rate * 2 // 1000
        while self._unacked and self._unacked_bytes - len(self._unacked[0]) >= limit:
            self._unacked_bytes -= len(self._unacked.popleft())
        self._outbox.append(self._append_message(pcm))

    def commit(self) -> None:
        """End of the user's turn with local turn detection: commit, then ask for a reply."""
        if not self.local_turns or not self._since_commit:
            return
        self._outbox.append({"type": "input_audio_buffer.commit"})
        self._since_commit = 0
        self._commit_pending = True
        if self.auto_respond:
            self._request_response()

    def text(self, text: str) -> None:
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        }
        self._outbox.append({"type": "conversation.item.create", "item": item})
        self.history.append(Turn(role="user", text=text))
        self._request_response()

    def speak(self, text: str) -> None:
        """Voice ``text`` verbatim, out of band: the model sees no conversation context."""
        response = {"conversation": "none", "input": [], "instructions": speak_instructions(text)}
        self._outbox.append({"type": "response.create", "response": response})
        self.response_requested = True
        self._speak_pending = text
        self._cancel_sent = False

    def tool_result(self, call_id: str, output: str) -> None:
        item = {"type": "function_call_output", "call_id": call_id, "output": output}
        self._outbox.append({"type": "conversation.item.create", "item": item})
        self._pending_calls.discard(call_id)
        self.history.append(Turn(role="tool", text=output, metadata={"call_id": call_id}))
        if self._pending_calls:
            return
        if self.response_id is not None:
            self._respond_when_done = True
        else:
            self._request_response()

    def interrupt(self, played_ms: float | None) -> list[SessionEvent]:
        """Barge-in: cancel a live reply and make the server forget what was not heard."""
        events: list[SessionEvent] = []
        if self.response_live and not self._cancel_sent:
            self._outbox.append({"type": "response.cancel"})
            events.append(Interrupted(self.response_id))
            self.response_requested = False
            self._cancel_sent = True
        if played_ms is not None and not self._reply_oob:
            for cut in self._reply.truncations(played_ms):
                self._outbox.append(
                    {
                        "type": "conversation.item.truncate",
                        "item_id": cut.item_id,
                        "content_index": cut.content_index,
                        "audio_end_ms": cut.audio_end_ms,
                    }
                )
                self._trim_turn(cut.item_id, played_ms)
            self._reply = ReplyAudio(self.rate)
        return events

    # -- server messages --------------------------------------------------------------------

    def receive(self, message: str | bytes) -> list[SessionEvent]:
        """Map one server message to session events.  Never raises: a bad message becomes
        a non-fatal ``malformed_response`` :class:`SessionError`."""
        if isinstance(message, bytes | bytearray | memoryview):
            return self._on_binary(bytes(message))
        try:
            event = json.loads(message)
        except (ValueError, TypeError, RecursionError) as exc:
            return [_malformed(f"not JSON ({type(exc).__name__})")]
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return [_malformed("server event without a 'type'")]
        kind = self.dialect.aliases.get(event["type"], event["type"])
        handler = self._handlers.get(kind)
        if handler is None:
            return []  # ignored keep-alives and events we have no use for
        try:
            return handler(event)
        except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as exc:
            return [_malformed(f"bad {kind!r} event ({type(exc).__name__}: {exc})")]

    def _on_binary(self, data: bytes) -> list[SessionEvent]:
        if not self.binary or self._item_id is None or len(data) % 2:
            return [_malformed("unexpected binary frame")]
        self._reply.add(self._item_id, 0, len(data))
        return [AudioChunk(data, self.rate, response_id=self.response_id)]

    def _on_session_created(self, event: dict[str, Any]) -> list[SessionEvent]:
        session = event.get("session") or {}
        self.session_id = _opt_str(session.get("id")) if isinstance(session, dict) else None
        return []

    def _on_session_updated(self, event: dict[str, Any]) -> list[SessionEvent]:
        self.ready = True
        if self._announced:
            return []  # a reconnect or rotation: invisible to the consumer
        self._announced = True
        return [SessionReady(session_id=self.session_id)]

    def _on_speech_started(self, event: dict[str, Any]) -> list[SessionEvent]:
        self.user_speaking = True
        events: list[SessionEvent] = [SpeechStarted(_opt_float(event.get("audio_start_ms")))]
        if self.response_live and self.settings.vad_interrupt_response:
            # The server cancels its own reply; say so now so playback is flushed at once.
            events.append(Interrupted(self.response_id))
        return events

    def _on_speech_stopped(self, event: dict[str, Any]) -> list[SessionEvent]:
        self.user_speaking = False
        return [SpeechStopped(_opt_float(event.get("audio_end_ms")))]

    def _on_committed(self, event: dict[str, Any]) -> list[SessionEvent]:
        self._unacked.clear()
        self._unacked_bytes = 0
        self._commit_pending = False
        if not self.local_turns:
            self._since_commit = 0
        return []

    def _on_user_delta(self, event: dict[str, Any]) -> list[SessionEvent]:
        item = str(event["item_id"])
        key = ("user", item)
        if isinstance(event.get("transcript"), str):  # Grok's ``.updated`` carries it whole
            text = event["transcript"]
        else:
            text = self._partial.get(key, "") + str(event.get("delta") or "")
        self._partial[key] = text
        return [Transcript("user", text, final=False, item_id=item)]

    def _on_user_done(self, event: dict[str, Any]) -> list[SessionEvent]:
        item = str(event["item_id"])
        text = str(event["transcript"])
        self._partial.pop(("user", item), None)
        self.history.append(Turn(role="user", text=text, metadata={"item_id": item}))
        return [Transcript("user", text, final=True, item_id=item)]

    def _on_user_failed(self, event: dict[str, Any]) -> list[SessionEvent]:
        err = event.get("error") if isinstance(event.get("error"), dict) else {}
        message = str(err.get("message") or "input transcription failed")
        return [SessionError(S2SError("receive", ErrorCode.INVALID_RESPONSE, message))]

    def _on_response_created(self, event: dict[str, Any]) -> list[SessionEvent]:
        rid = _opt_str(event["response"].get("id"))
        self.response_id = rid or "response"
        self.response_requested = False
        self._cancel_sent = False
        self._reply = ReplyAudio(self.rate)
        self._reply_oob = self._speak_pending is not None
        if self._speak_pending is not None:
            self._out_of_band.add(self.response_id)
            self.history.append(Turn(role="assistant", text=self._speak_pending))
            self._live_speak, self._speak_pending = self._speak_pending, None
        return [ResponseStarted(rid)]

    def _on_item_added(self, event: dict[str, Any]) -> list[SessionEvent]:
        item = event["item"]
        if item.get("type") == "message":
            self._item_id = _opt_str(item.get("id"))
        return []

    def _on_audio(self, event: dict[str, Any]) -> list[SessionEvent]:
        pcm = base64.b64decode(event["delta"], validate=True)
        if len(pcm) % 2:
            raise ValueError("odd byte count of PCM16 audio")
        item = str(event["item_id"])
        self._item_id = item
        self._reply.add(item, int(event.get("content_index") or 0), len(pcm))
        return [AudioChunk(pcm, self.rate, response_id=_opt_str(event.get("response_id")))]

    def _on_audio_done(self, event: dict[str, Any]) -> list[SessionEvent]:
        return []

    def _on_assistant_delta(self, event: dict[str, Any]) -> list[SessionEvent]:
        item = str(event["item_id"])
        key = ("assistant", item)
        text = self._partial.get(key, "") + str(event["delta"])
        self._partial[key] = text
        return [Transcript("assistant", text, final=False, item_id=item)]

    def _on_assistant_done(self, event: dict[str, Any]) -> list[SessionEvent]:
        item = str(event["item_id"])
        text = event.get("transcript", event.get("text"))
        if not isinstance(text, str):
            raise ValueError("transcript missing")
        self._partial.pop(("assistant", item), None)
        if not self._reply_oob:
            turn = Turn(role="assistant", text=text, metadata={"item_id": item})
            self.history.append(turn)
            self._assistant_turns = {item: turn}
        return [Transcript("assistant", text, final=True, item_id=item)]

    def _on_function_call(self, event: dict[str, Any]) -> list[SessionEvent]:
        call_id = str(event["call_id"])
        if call_id in self._seen_calls:
            return []
        self._seen_calls.add(call_id)
        self._pending_calls.add(call_id)
        arguments = str(event.get("arguments") or "")
        return [ToolCall(call_id, str(event["name"]), arguments)]

    def _on_response_done(self, event: dict[str, Any]) -> list[SessionEvent]:
        response = event["response"]
        rid = _opt_str(response.get("id")) or self.response_id
        status = response.get("status")
        status = status if status in _STATUSES else "completed"
        details = response.get("status_details") or {}
        reason = _opt_str(details.get("reason")) if isinstance(details, dict) else None
        events: list[SessionEvent] = []
        if self._reply.segments and status == "completed":
            events.append(AudioChunk(b"", self.rate, is_final=True, response_id=rid))
        usage = response.get("usage")
        if isinstance(usage, dict):
            events.append(
                Usage(
                    input_tokens=int(usage.get("input_tokens") or 0),
                    output_tokens=int(usage.get("output_tokens") or 0),
                    total_tokens=int(usage.get("total_tokens") or 0),
                )
            )
        if status == "failed":
            err = details.get("error") if isinstance(details, dict) else None
            err = err if isinstance(err, dict) else {}
            rule = self.dialect.classify(
                _opt_str(err.get("code")), _opt_str(err.get("type")), str(err.get("message", ""))
            )
            code = rule.code if rule else ErrorCode.STREAM_ERROR
            message = str(err.get("message") or "response failed")
            events.append(SessionError(S2SError("receive", code, message, details=err)))
        events.append(ResponseDone(rid, status, reason))  # always last: the reply is over
        self.response_id = None
        if self._respond_when_done and not self._pending_calls:
            self._respond_when_done = False
            self._request_response()
        return events

    def _on_error(self, event: dict[str, Any]) -> list[SessionEvent]:
        err = event["error"]
        if not isinstance(err, dict):
            raise TypeError("'error' is not an object")
        code, kind = _opt_str(err.get("code")), _opt_str(err.get("type"))
        message = str(err.get("message") or "")
        rule = self.dialect.classify(code, kind, message)
        if rule is None:
            log.debug("%s: ignored benign error %s", self.dialect.name, code or message)
            return []
        details = {"code": code, "type": kind, "param": err.get("param")}
        error = S2SError("receive", rule.code, message or code or "error", details=details)
        if rule.code is ErrorCode.STREAM_CLOSED:
            self.expired = True  # the shell moves to a new connection
            return []
        if rule.fatal:
            self.fatal = error
        return [SessionError(error, fatal=rule.fatal)]

    # -- helpers ----------------------------------------------------------------------------

    def _request_response(self) -> None:
        self._outbox.append({"type": "response.create"})
        self.response_requested = True
        self._cancel_sent = False

    def _append_message(self, pcm: bytes) -> Outbound:
        if self.binary:
            return pcm
        return {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()}

    def _trim_turn(self, item_id: str, played_ms: float) -> None:
        turn = self._assistant_turns.get(item_id)
        if turn is None:
            return
        fraction = self._reply.heard_fraction(item_id, played_ms)
        words = turn.text.split()
        turn.text = " ".join(words[: round(len(words) * fraction)])
        turn.metadata["truncated"] = True


def _is_append(message: Outbound) -> bool:
    return isinstance(message, bytes) or message.get("type") == "input_audio_buffer.append"


def _malformed(why: str) -> SessionError:
    return SessionError(S2SError("receive", ErrorCode.MALFORMED_RESPONSE, why))


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _opt_float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
