"""Server events -> session events: the receiving half of the realtime protocol core.

Each ``_on_<event>`` handler updates the conversation state kept by
:class:`~.core.RealtimeProtocol` and returns the provider-neutral events the message
means.  Handlers may raise ``KeyError`` / ``TypeError`` / ``ValueError`` on a malformed
message: :meth:`~.core.RealtimeProtocol.receive` turns those into a non-fatal
``malformed_response`` error, so no handler needs defensive code for every field.
"""

from __future__ import annotations

import base64
import logging
from typing import TYPE_CHECKING, Any, Literal, TypeGuard

from ...conversation import Turn
from ..dispatch import Dispatcher
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
from .playback import ReplyAudio
from .reply import ReplyState, ReplyStep

if TYPE_CHECKING:
    from .core import RealtimeProtocol

__all__ = ["ServerEvents"]

log = logging.getLogger("beluga_voice.providers.openai_realtime.core")

_Status = Literal["completed", "cancelled", "failed", "incomplete"]
_STATUSES: tuple[_Status, ...] = ("completed", "cancelled", "failed", "incomplete")

_IGNORED = frozenset(
    {
        # Progress and bookkeeping events whose content reaches us by other events.
        "conversation.created",
        "conversation.item.created",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.retrieved",
        "conversation.item.truncated",
        "conversation.item.deleted",
        "conversation.item.input_audio_transcription.segment",
        "input_audio_buffer.cleared",
        "input_audio_buffer.timeout_triggered",
        "output_audio_buffer.started",
        "output_audio_buffer.stopped",
        "output_audio_buffer.cleared",
        "response.output_item.done",
        "response.content_part.added",
        "response.content_part.done",
        "response.function_call_arguments.delta",
        "rate_limits.updated",
        "ping",  # xAI's keep-alive
    }
)


def _nothing(event: dict[str, Any]) -> list[SessionEvent]:
    return []


class ServerEvents:
    """The receiving half of a :class:`~.core.RealtimeProtocol`, composed into it.

    It owns what only the receiving side needs (partial transcripts, tool calls already
    seen, the item audio is arriving for) and the table from server event type to
    handler; everything shared with the sending side it reaches through :attr:`core`.
    """

    def __init__(self, core: RealtimeProtocol) -> None:
        self.core = core
        self._announced = False
        self._item_id: str | None = None
        self._seen_calls: set[str] = set()
        self._partial: dict[tuple[str, str], str] = {}
        self.dispatch = Dispatcher(
            core.dialect.name,
            {
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
                "response.output_audio.done": _nothing,
                "response.output_audio_transcript.delta": self._on_assistant_delta,
                "response.output_text.delta": self._on_assistant_delta,
                "response.output_audio_transcript.done": self._on_assistant_done,
                "response.output_text.done": self._on_assistant_done,
                "response.function_call_arguments.done": self._on_function_call,
                "response.done": self._on_response_done,
                "error": self._on_error,
            },
            ignored=_IGNORED,
        )

    def binary(self, data: bytes) -> list[SessionEvent]:
        """Grok's binary audio transport: a frame is raw audio of the current item."""
        core = self.core
        g711 = core.passthrough  # the wire's G.711 as it is: counted as the PCM16 it encodes
        pcm = core.decode(data) if core.decode is not None and g711 is None else data
        if not core.binary or self._item_id is None or (len(pcm) % 2 and g711 is None):
            return [
                SessionError(
                    S2SError("receive", ErrorCode.MALFORMED_RESPONSE, "unexpected binary frame")
                )
            ]
        core.reply_audio.add(self._item_id, 0, core.pcm_size(pcm))
        return [AudioChunk(pcm, core.rate, response_id=core.response_id, encoding=g711 or "pcm16")]

    def _on_session_created(self, event: dict[str, Any]) -> list[SessionEvent]:
        session = event.get("session") or {}
        self.core.session_id = _opt_str(session.get("id")) if isinstance(session, dict) else None
        return []

    def _on_session_updated(self, event: dict[str, Any]) -> list[SessionEvent]:
        self.core.ready = True
        if self._announced:
            return []  # a reconnect or rotation: invisible to the consumer
        self._announced = True
        return [SessionReady(session_id=self.core.session_id)]

    def _on_speech_started(self, event: dict[str, Any]) -> list[SessionEvent]:
        core = self.core
        core.user_speaking = True
        events: list[SessionEvent] = [SpeechStarted(_opt_float(event.get("audio_start_ms")))]
        if core.reply.cancellable and core.settings.vad_interrupt_response:
            # The server cancels its own reply; say so now so playback is flushed at once.
            # A later interrupt() must neither announce it again nor send a cancel that the
            # server would refuse (response_cancel_not_active): it only truncates.
            events.append(Interrupted(core.response_id))
            core.reply.move(ReplyStep.BARGE_IN)
        return events

    def _on_speech_stopped(self, event: dict[str, Any]) -> list[SessionEvent]:
        self.core.user_speaking = False
        return [SpeechStopped(_opt_float(event.get("audio_end_ms")))]

    def _on_committed(self, event: dict[str, Any]) -> list[SessionEvent]:
        self.core.audio_acknowledged()
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
        self.core.history.append(Turn(role="user", text=text, metadata={"item_id": item}))
        return [Transcript("user", text, final=True, item_id=item)]

    def _on_user_failed(self, event: dict[str, Any]) -> list[SessionEvent]:
        err = event.get("error")
        if not isinstance(err, dict):
            err = {}
        message = str(err.get("message") or "input transcription failed")
        return [SessionError(S2SError("receive", ErrorCode.INVALID_RESPONSE, message))]

    def _on_response_created(self, event: dict[str, Any]) -> list[SessionEvent]:
        rid = _opt_str(event["response"].get("id"))
        core, reply = self.core, self.core.reply
        if reply.move(ReplyStep.CREATED) is ReplyState.CANCELLING:
            core.queue({"type": "response.cancel"})  # interrupted before it started
        reply.response_id = rid or "response"
        core.reply_audio = ReplyAudio(core.rate)
        # The out-of-band line asked for, if any, is this reply: it is history as written.
        reply.live_line, reply.speak_line = reply.speak_line, None
        if reply.live_line is not None:
            core.history.append(Turn(role="assistant", text=reply.live_line))
        return [ResponseStarted(rid)]

    def _on_item_added(self, event: dict[str, Any]) -> list[SessionEvent]:
        item = event["item"]
        if item.get("type") == "message":
            self._item_id = _opt_str(item.get("id"))
        return []

    def _on_audio(self, event: dict[str, Any]) -> list[SessionEvent]:
        core = self.core
        pcm = base64.b64decode(event["delta"], validate=True)
        g711 = core.passthrough  # the wire's G.711 as it is: counted as the PCM16 it encodes
        if core.decode is not None and g711 is None:
            pcm = core.decode(pcm)
        if len(pcm) % 2 and g711 is None:
            raise ValueError("odd byte count of PCM16 audio")
        item = str(event["item_id"])
        self._item_id = item
        core.reply_audio.add(item, int(event.get("content_index") or 0), core.pcm_size(pcm))
        rid = _opt_str(event.get("response_id"))
        return [AudioChunk(pcm, core.rate, response_id=rid, encoding=g711 or "pcm16")]

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
        if self.core.reply.live_line is None:  # an out-of-band line is in history already
            turn = Turn(role="assistant", text=text, metadata={"item_id": item})
            self.core.history.append(turn)
            self.core.assistant_turns = {item: turn}
        return [Transcript("assistant", text, final=True, item_id=item)]

    def _on_function_call(self, event: dict[str, Any]) -> list[SessionEvent]:
        call_id = str(event["call_id"])
        if call_id in self._seen_calls:
            return []
        self._seen_calls.add(call_id)
        self.core.pending_calls.add(call_id)
        arguments = str(event.get("arguments") or "")
        return [ToolCall(call_id, str(event["name"]), arguments)]

    def _on_response_done(self, event: dict[str, Any]) -> list[SessionEvent]:
        response = event["response"]
        core = self.core
        rid = _opt_str(response.get("id")) or core.response_id
        raw_status = response.get("status")
        status: _Status = raw_status if _is_status(raw_status) else "completed"
        details = response.get("status_details") or {}
        reason = _opt_str(details.get("reason")) if isinstance(details, dict) else None
        events: list[SessionEvent] = []
        if core.reply_audio.segments and status == "completed":
            events.append(AudioChunk(b"", core.rate, is_final=True, response_id=rid))
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
            rule = core.dialect.classify(
                _opt_str(err.get("code")), _opt_str(err.get("type")), str(err.get("message", ""))
            )
            code = rule.code if rule else ErrorCode.STREAM_ERROR
            message = str(err.get("message") or "response failed")
            events.append(SessionError(S2SError("receive", code, message, details=err)))
        events.append(ResponseDone(rid, status, reason))  # always last: the reply is over
        core.reply.move(ReplyStep.DONE)
        core.next_reply()
        return events

    def _on_error(self, event: dict[str, Any]) -> list[SessionEvent]:
        """Every error the service sends is logged and reaches the consumer, mapped.

        Before ``session.updated``, an error about our ``session.update`` (or about no
        event in particular) is the service refusing the setup: :attr:`fatal` is set and
        the shell fails the connect at once with the service's own words.
        """
        err = event["error"]
        if not isinstance(err, dict):
            raise TypeError("'error' is not an object")
        code, kind = _opt_str(err.get("code")), _opt_str(err.get("type"))
        message = str(err.get("message") or "")
        about = err.get("event_id")
        core = self.core
        rule = core.dialect.classify(code, kind, message)
        details = {"code": code, "type": kind, "param": err.get("param"), "event_id": about}
        text = message or code or kind or "error"
        log.warning("%s: server error %s: %s", core.dialect.name, code or kind, text)
        if not core.ready and about in (None, core.setup_event_id):
            setup = (
                ErrorCode.INVALID_CONFIG if rule.code is ErrorCode.INVALID_REQUEST else rule.code
            )
            core.fatal = S2SError(
                "connect", setup, f"session.update refused: {text}", details=details
            )
            return []
        if core.reply.requested and about == core.create_event_id:
            # Our response.create was rejected: no reply is coming, stop waiting for it.
            core.reply.move(ReplyStep.REJECTED)
            core.reply.speak_line = None
        error = S2SError("receive", rule.code, text, details=details)
        if rule.code is ErrorCode.STREAM_CLOSED:
            # The service ends this connection; the shell carries the conversation over to
            # a new one and reports the cause on the SessionReconnected event.
            core.expired = True
            core.expired_error = error
            return []
        if rule.fatal:
            core.fatal = error
        return [SessionError(error, fatal=rule.fatal)]


def _is_status(value: object) -> TypeGuard[_Status]:
    return value in _STATUSES


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _opt_float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
