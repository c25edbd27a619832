"""Server events -> session events: the receiving half of the ``openai_live`` core.

Each ``_on_<event>`` handler updates the state kept by :class:`~.protocol.LiveProtocol`
and returns the provider-neutral events the message means; the reply and user-turn
helpers turn the derived boundaries (see :mod:`.turns`) into events and history.
Handlers may raise ``KeyError`` / ``TypeError`` / ``ValueError`` on a malformed message:
:meth:`ServerEvents.receive` turns those into a non-fatal ``malformed_response`` error.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...conversation import Turn
from ..errors import ErrorCode, S2SError
from ..events import (
    DELEGATE_TOOL,
    AudioChunk,
    Interrupted,
    ResponseDone,
    ResponseStarted,
    SessionClosed,
    SessionError,
    SessionEvent,
    SessionReady,
    SpeechStarted,
    SpeechStopped,
    ToolCall,
    Transcript,
    Usage,
)
from .backend import BackendEvents
from .state import State
from .turns import ReplyTracker, UserTurn, UserTurns
from .wire import classify_error

__all__ = ["ServerEvents"]

log = logging.getLogger("beluga_voice.providers.openai_live.protocol")

_CLOSE_REASONS: dict[str, ErrorCode] = {
    "expired": ErrorCode.STREAM_CLOSED,
    "remote_hangup": ErrorCode.STREAM_CLOSED,
    "connection_lost": ErrorCode.NETWORK_ERROR,
    "content": ErrorCode.INVALID_INPUT,
}

_IGNORED = frozenset(
    {
        "session.updated",
        "session.instructions.appended",
        "session.thinking.appended",
        "session.commentary.appended",
        "session.output_audio.fixture.playing",
        "session.output_audio.fixture.played",
        "session.input_audio.append",  # sideband reflection of input audio
        "decision.event",
        "decision.item.created",
        "decision.item.deleted",
        "info",
        "transport.dtmf.received",  # sideband-only (SIP); see docs/providers/openai_live.md
        "transport.dtmf.send",
        "transport.dtmf.sent",
        "transport.ringing",
        "transport.answered",
        "transport.failed",
    }
)


class ServerEvents:
    """Mixin of :class:`~.protocol.LiveProtocol`: one method per server event it uses.

    The attributes below belong to :class:`~.protocol.LiveProtocol`, which sets them in
    ``__init__``; they are declared here so that the handlers are type-checked.
    """

    state: State
    history: list[Turn]
    rate: int
    session_id: str | None
    expires_at: int | None
    fatal: S2SError | None
    close_reason: str | None
    final_usage: Usage | None
    muted: bool
    replies: ReplyTracker
    users: UserTurns
    backend: BackendEvents
    pending_delegations: set[str]
    _last_reply: tuple[Turn, float] | None
    _handlers: dict[str, Callable[[dict[str, Any]], list[SessionEvent]]]

    if TYPE_CHECKING:

        def _move(self, trigger: str, op: str) -> None: ...

    def _handler_table(self) -> dict[str, Callable[[dict[str, Any]], list[SessionEvent]]]:
        return {
            "session.started": self._on_started,
            "session.output_audio.delta": self._on_audio,
            "session.input_transcript.delta": self._on_user_delta,
            "session.output_transcript.delta": self._on_assistant_delta,
            "session.delegation.created": self._on_delegation,
            "response.event": self._on_backend,
            "session.usage.updated": self._on_usage,
            "session.input_audio.muted": self._on_muted,
            "session.input_audio.unmuted": self._on_muted,
            "session.closed": self._on_closed,
            "error": self._on_error,
        }

    def receive(self, message: str | bytes) -> list[SessionEvent]:
        """Map one server message to session events.  Never raises: a bad message becomes a
        non-fatal ``malformed_response`` :class:`SessionError`."""
        if isinstance(message, bytes | bytearray | memoryview):
            try:
                message = bytes(message).decode("utf-8")
            except UnicodeDecodeError:
                return [_malformed("binary frame that is not UTF-8 JSON")]
        try:
            event = json.loads(message)
        except (ValueError, RecursionError) as exc:
            return [_malformed(f"not JSON ({type(exc).__name__})")]
        kind = event.get("type") if isinstance(event, dict) else None
        if not isinstance(kind, str):
            return [_malformed("server event without a 'type'")]
        handler = self._handlers.get(kind)
        if handler is None:
            if kind not in _IGNORED:
                log.debug("openai_live: ignored unknown server event %s", kind)
            return []
        if self.state is State.CLOSED:
            return []
        if self.state in (State.IDLE, State.STARTING) and kind not in (
            "session.started",
            "error",
            "session.closed",
        ):
            return [_malformed(f"{kind!r} before session.started")]
        try:
            return handler(event)
        except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as exc:
            return [_malformed(f"bad {kind!r} event ({type(exc).__name__}: {exc})")]

    def _on_started(self, event: dict[str, Any]) -> list[SessionEvent]:
        session = event["session"]
        self._move("started", "connect")
        self.session_id = _opt_str(session.get("id"))
        expires = session.get("expires_at")
        self.expires_at = expires if isinstance(expires, int) else None
        return [SessionReady(session_id=self.session_id)]

    def _on_audio(self, event: dict[str, Any]) -> list[SessionEvent]:
        pcm = base64.b64decode(event["delta"], validate=True)
        if len(pcm) % 2:
            raise ValueError("odd byte count of PCM16 audio")
        started, emit, ended = self.replies.audio(pcm)
        events: list[SessionEvent] = []
        reply = self.replies.current
        if started and reply is not None:
            events.extend(self._user_turn_over())
            events.append(ResponseStarted(reply.response_id))
        if emit and reply is not None:
            events.append(AudioChunk(pcm, self.rate, response_id=reply.response_id))
        if ended:
            events.extend(self._end_reply())
        return events

    def _on_user_delta(self, event: dict[str, Any]) -> list[SessionEvent]:
        delta = str(event["delta"])
        finished, turn = self.users.fragment(delta, int(event["start_ms"]), int(event["end_ms"]))
        events: list[SessionEvent] = []
        if finished is not None:
            events.extend(self._turn_events(finished))
        if not turn.announced:
            reply = self.replies.current
            if reply is None:
                turn.announced = True
                events.append(SpeechStarted(float(turn.start_ms)))
            else:
                reply.overlapped = True  # the model decides whether this is a barge-in
        events.append(Transcript("user", turn.text, final=False))
        return events

    def _on_assistant_delta(self, event: dict[str, Any]) -> list[SessionEvent]:
        reply = self.replies.transcript(str(event["delta"]))
        if reply is None:  # transcript ahead of audio, or of silence-only audio
            return []
        return [Transcript("assistant", reply.text, final=False, item_id=reply.response_id)]

    def _on_delegation(self, event: dict[str, Any]) -> list[SessionEvent]:
        delegation = event["delegation"]
        did = str(delegation["id"])
        target = delegation.get("target")
        events = self._user_turn_over()
        if target == "client":
            if did in self.pending_delegations:
                return events
            self.pending_delegations.add(did)
            task = self.users.take_task()
            args = json.dumps({"task": task, "offset_ms": event.get("offset_ms")})
            events.append(ToolCall(did, DELEGATE_TOOL, args))
        elif target == "responses":
            self.backend.delegated(did, _opt_str(delegation.get("response_id")))
        else:
            log.debug("openai_live: delegation to %s not handled", target)
        return events

    def _on_backend(self, event: dict[str, Any]) -> list[SessionEvent]:
        inner = event["event"]
        if not isinstance(inner, dict):
            raise TypeError("'event' is not an object")
        return self.backend.receive(inner, _opt_str(event.get("delegation_id")))

    def _on_usage(self, event: dict[str, Any]) -> list[SessionEvent]:
        return [_usage(event)]

    def _on_muted(self, event: dict[str, Any]) -> list[SessionEvent]:
        self.muted = event["type"] == "session.input_audio.muted"
        return []

    def _on_closed(self, event: dict[str, Any]) -> list[SessionEvent]:
        asked = self.state is State.CLOSING
        self._move("closed", "receive")
        reason = str(event.get("reason") or "")
        self.close_reason = reason
        events: list[SessionEvent] = []
        if self.replies.current is not None:
            events.extend(self._end_reply(cancelled=True, reason="session_closed"))
        events.extend(self._user_turn_over())
        usage = _usage(event)
        self.final_usage = usage
        events.append(usage)
        if asked or reason == "close_requested":
            events.append(SessionClosed(reason or "close_requested"))
            return events
        code = _CLOSE_REASONS.get(reason, ErrorCode.STREAM_CLOSED)
        error = S2SError(
            "receive",
            code,
            f"openai_live: session ended ({reason or 'no reason'})",
            details={"reason": reason},
        )
        events.append(SessionError(error, fatal=True))
        events.append(SessionClosed(reason, error=error))
        return events

    def _on_error(self, event: dict[str, Any]) -> list[SessionEvent]:
        err = event["error"]
        if not isinstance(err, dict):
            raise TypeError("'error' is not an object")
        code, kind = _opt_str(err.get("code")), _opt_str(err.get("type"))
        message = str(err.get("message") or code or "error")
        rule = classify_error(code, kind, starting=self.state is State.STARTING)
        details = {
            "code": code,
            "type": kind,
            "param": err.get("param"),
            "client_event_id": err.get("client_event_id"),
        }
        error = S2SError("receive", rule.code, f"openai_live: {message}", details=details)
        if rule.fatal:
            self.fatal = error
        return [SessionError(error, fatal=rule.fatal)]

    # -- helpers ----------------------------------------------------------------------------

    def _turn_events(self, turn: UserTurn) -> list[SessionEvent]:
        events: list[SessionEvent] = []
        if turn.announced:
            events.append(SpeechStopped(float(turn.end_ms)))
        text = turn.text.strip()
        if text:
            self.history.append(Turn(role="user", text=text))
            events.append(Transcript("user", text, final=True))
        return events

    def _user_turn_over(self) -> list[SessionEvent]:
        turn = self.users.finish()
        return [] if turn is None else self._turn_events(turn)

    def _end_reply(
        self, *, cancelled: bool = False, reason: str | None = None
    ) -> list[SessionEvent]:
        reply = self.replies.finish()
        if reply is None:
            return []
        events: list[SessionEvent] = []
        yielded = reply.overlapped and self.users.current is not None
        if yielded and not cancelled:
            # The model stopped while the user was talking over it: a barge-in it accepted.
            events.append(Interrupted(reply.response_id))
            cancelled, reason = True, "turn_detected"
        if not cancelled:
            events.append(AudioChunk(b"", self.rate, is_final=True, response_id=reply.response_id))
        text = reply.text.strip()
        if text:
            turn = Turn(role="assistant", text=text)
            self.history.append(turn)
            self._last_reply = (turn, reply.audio_ms)
            events.append(Transcript("assistant", text, final=True, item_id=reply.response_id))
        if yielded and self.users.current is not None and not self.users.current.announced:
            self.users.current.announced = True
            events.append(SpeechStarted(float(self.users.current.start_ms)))
        events.append(
            ResponseDone(reply.response_id, "cancelled" if cancelled else "completed", reason)
        )
        return events


def _usage(event: dict[str, Any]) -> Usage:
    usage = event["usage"]
    if not isinstance(usage, dict):
        raise TypeError("'usage' is not an object")
    details: dict[str, Any] = {"seconds": usage.get("seconds")}
    for key in ("active_seconds", "paused_seconds"):
        if key in usage:
            details[key] = usage[key]
    window = event.get("context_window")
    if isinstance(window, dict) and "usage_ratio" in window:
        details["context_usage_ratio"] = window["usage_ratio"]
    return Usage(details=details)


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _malformed(why: str) -> SessionError:
    return SessionError(S2SError("receive", ErrorCode.MALFORMED_RESPONSE, f"openai_live: {why}"))
