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
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeGuard

from ...conversation import Turn
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
from .dialect import Dialect
from .playback import ReplyAudio
from .settings import RealtimeSettings

if TYPE_CHECKING:
    from .core import Outbound

__all__ = ["ServerEventHandlers"]

log = logging.getLogger("beluga_voice.providers.openai_realtime.core")

_Status = Literal["completed", "cancelled", "failed", "incomplete"]
_STATUSES: tuple[_Status, ...] = ("completed", "cancelled", "failed", "incomplete")


class ServerEventHandlers:
    """Mixin of :class:`~.core.RealtimeProtocol`: one method per server event it uses.

    The attributes and methods below belong to :class:`~.core.RealtimeProtocol`, which
    sets them in ``__init__``; they are declared here only so that the handlers are
    type-checked against them.
    """

    dialect: Dialect
    settings: RealtimeSettings
    decode: Callable[[bytes], bytes] | None
    expired_error: S2SError | None
    setup_event_id: str | None
    history: list[Turn]
    rate: int
    binary: bool
    local_turns: bool
    ready: bool
    expired: bool
    fatal: S2SError | None
    session_id: str | None
    response_id: str | None
    response_requested: bool
    user_speaking: bool
    create_event_id: str | None
    _outbox: list[Outbound]
    _announced: bool
    _out_of_band: set[str]
    _reply: ReplyAudio
    _reply_oob: bool
    _item_id: str | None
    _pending_calls: set[str]
    _seen_calls: set[str]
    _respond_when_done: bool
    _queued_speech: deque[str]
    _partial: dict[tuple[str, str], str]
    _assistant_turns: dict[str, Turn]
    _unacked: deque[bytes]
    _unacked_bytes: int
    _since_commit: int
    _commit_pending: bool
    _speak_pending: str | None
    _live_speak: str | None
    _cancel_sent: bool
    _cancel_on_create: bool

    if TYPE_CHECKING:

        @property
        def response_live(self) -> bool: ...

        def speak(self, text: str) -> None: ...

        def _request_response(self) -> None: ...

    def _on_binary(self, data: bytes) -> list[SessionEvent]:
        pcm = self.decode(data) if self.decode is not None else data
        if not self.binary or self._item_id is None or len(pcm) % 2:
            return [
                SessionError(
                    S2SError("receive", ErrorCode.MALFORMED_RESPONSE, "unexpected binary frame")
                )
            ]
        self._reply.add(self._item_id, 0, len(pcm))
        return [AudioChunk(pcm, self.rate, response_id=self.response_id)]

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
        if self.response_live and self.settings.vad_interrupt_response and not self._cancel_sent:
            # The server cancels its own reply; say so now so playback is flushed at once.
            # A later interrupt() must neither announce it again nor send a cancel that the
            # server would refuse (response_cancel_not_active): it only truncates.
            events.append(Interrupted(self.response_id))
            if self.response_id is not None:
                self._cancel_sent = True
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
        err = event.get("error")
        if not isinstance(err, dict):
            err = {}
        message = str(err.get("message") or "input transcription failed")
        return [SessionError(S2SError("receive", ErrorCode.INVALID_RESPONSE, message))]

    def _on_response_created(self, event: dict[str, Any]) -> list[SessionEvent]:
        rid = _opt_str(event["response"].get("id"))
        self.response_id = response_id = rid or "response"
        self.response_requested = False
        self._cancel_sent = self._cancel_on_create
        if self._cancel_on_create:  # interrupted before it started
            self._cancel_on_create = False
            self._outbox.append({"type": "response.cancel"})
        self._reply = ReplyAudio(self.rate)
        self._reply_oob = self._speak_pending is not None
        if self._speak_pending is not None:
            self._out_of_band.add(response_id)
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
        if self.decode is not None:
            pcm = self.decode(pcm)
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
        raw_status = response.get("status")
        status: _Status = raw_status if _is_status(raw_status) else "completed"
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
        self.response_requested = False
        if self._queued_speech:
            self.speak(self._queued_speech.popleft())
        elif self._respond_when_done and not self._pending_calls:
            self._respond_when_done = False
            self._request_response()
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
        rule = self.dialect.classify(code, kind, message)
        details = {"code": code, "type": kind, "param": err.get("param"), "event_id": about}
        text = message or code or kind or "error"
        log.warning("%s: server error %s: %s", self.dialect.name, code or kind, text)
        if not self.ready and about in (None, self.setup_event_id):
            setup = (
                ErrorCode.INVALID_CONFIG if rule.code is ErrorCode.INVALID_REQUEST else rule.code
            )
            self.fatal = S2SError(
                "connect", setup, f"session.update refused: {text}", details=details
            )
            return []
        if self.response_requested and about == self.create_event_id:
            # Our response.create was rejected: no reply is coming, stop waiting for it.
            self.response_requested = False
            self._speak_pending = None
        error = S2SError("receive", rule.code, text, details=details)
        if rule.code is ErrorCode.STREAM_CLOSED:
            # The service ends this connection; the shell carries the conversation over to
            # a new one and reports the cause on the SessionReconnected event.
            self.expired = True
            self.expired_error = error
            return []
        if rule.fatal:
            self.fatal = error
        return [SessionError(error, fatal=rule.fatal)]


def _is_status(value: object) -> TypeGuard[_Status]:
    return value in _STATUSES


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _opt_float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
