"""The sans-I/O protocol core of ``openai_live``: events in, wire messages and session
events out, and an explicit session state machine.

:class:`LiveProtocol` never touches a socket.  Client operations queue JSON events in
an outbox that the shell drains with :meth:`LiveProtocol.take_outbound`; server messages
go in through :meth:`LiveProtocol.receive`, which returns provider-neutral session events.

The session's life is one :class:`State` per connection, h11-style: a transition table,
and an :class:`S2SError` for any operation the state does not allow (audio before
``session.started``, a second ``session.start``, anything after ``session.closed``)::

    IDLE --start--> STARTING --session.started--> ACTIVE --close--> CLOSING
      STARTING / ACTIVE / CLOSING --session.closed or a fatal error--> CLOSED

Delegation maps onto the tool-call API every provider shares: a client delegation is a
:class:`ToolCall` named :data:`~.wire.DELEGATE_TOOL` whose answer (``send_tool_result``)
goes back as ``session.commentary.append`` (or ``thinking``) with the delegation's id; a
Responses backend's function call is a :class:`ToolCall` under its own name whose answer
goes back as ``response.item.create`` + ``response.create``.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import logging
from collections.abc import Callable
from typing import Any

from ..errors import ErrorCode, S2SError
from ..events import (
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
from ..types import Turn
from .backend import BackendEvents
from .settings import OpenAILiveSettings
from .turns import ReplyTracker, UserTurns
from .wire import DELEGATE_TOOL, classify_error, session_config

__all__ = ["LiveProtocol", "State"]

log = logging.getLogger(__name__)


class State(enum.Enum):
    IDLE = "idle"
    STARTING = "starting"
    ACTIVE = "active"
    CLOSING = "closing"
    CLOSED = "closed"


_TRANSITIONS: dict[tuple[State, str], State] = {
    (State.IDLE, "start"): State.STARTING,
    (State.STARTING, "started"): State.ACTIVE,
    (State.ACTIVE, "close"): State.CLOSING,
    (State.STARTING, "closed"): State.CLOSED,
    (State.ACTIVE, "closed"): State.CLOSED,
    (State.CLOSING, "closed"): State.CLOSED,
    (State.IDLE, "closed"): State.CLOSED,
}

# Why a session ended (``session.closed`` reason) -> our code, for ends nobody asked for.
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


class LiveProtocol:
    """Protocol state of one GPT-Live session (one connection)."""

    def __init__(
        self,
        settings: OpenAILiveSettings,
        history: list[Turn],
        *,
        delegation: str = "client",
    ) -> None:
        self.settings = settings
        self.history = list(history)  # our own copy: the S2S processor owns ctx.history
        self.delegation = delegation
        self.rate = settings.sample_rate
        self.state = State.IDLE
        self.session_id: str | None = None
        self.expires_at: int | None = None
        self.fatal: S2SError | None = None
        self.close_reason: str | None = None
        self.final_usage: Usage | None = None
        self.muted = False
        self._outbox: list[dict[str, Any]] = []
        self.replies = ReplyTracker(
            self.rate,
            end_silence_ms=settings.reply_end_silence_ms,
            silence_level=settings.silence_level,
        )
        self.users = UserTurns(settings.user_turn_gap_ms)
        self.backend = BackendEvents()
        self.pending_delegations: set[str] = set()
        self._last_reply: tuple[Turn, float] | None = None
        self._events = 0
        self._handlers: dict[str, Callable[[dict[str, Any]], list[SessionEvent]]] = {
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

    # -- state machine ----------------------------------------------------------------------

    def _move(self, trigger: str, op: str) -> None:
        new = _TRANSITIONS.get((self.state, trigger))
        if new is None:
            raise S2SError(
                op,
                ErrorCode.INVALID_REQUEST,
                f"openai_live: cannot {trigger} in state {self.state.value}",
            )
        self.state = new

    def _require_active(self, op: str) -> None:
        if self.state is not State.ACTIVE:
            code = (
                ErrorCode.STREAM_CLOSED
                if self.state in (State.CLOSING, State.CLOSED)
                else ErrorCode.INVALID_REQUEST
            )
            raise S2SError(
                op, code, f"openai_live: {op} needs an active session (state {self.state.value})"
            )

    @property
    def reply_live(self) -> bool:
        return self.replies.current is not None

    # -- outbox -----------------------------------------------------------------------------

    def take_outbound(self) -> list[dict[str, Any]]:
        out, self._outbox = self._outbox, []
        return out

    def _send(self, event: dict[str, Any]) -> None:
        self._events += 1
        event.setdefault("event_id", f"beluga_live_{self._events}")
        self._outbox.append(event)

    # -- client operations ------------------------------------------------------------------

    def start(self) -> None:
        """Queue ``session.start`` (the first message on the socket)."""
        self._move("start", "connect")
        session = session_config(self.settings, self.delegation, self.history)
        self._send({"type": "session.start", "session": session})

    def audio(self, pcm: bytes) -> None:
        if len(pcm) % 2:
            raise S2SError("send_audio", ErrorCode.INVALID_AUDIO_FORMAT, "odd byte count for PCM16")
        self._require_active("send_audio")
        if pcm:
            self._outbox.append(
                {
                    "type": "session.input_audio.append",
                    "audio": base64.b64encode(pcm).decode("ascii"),
                }
            )

    def mute(self, muted: bool) -> None:
        """Mute or unmute the model's input (the server then hears silence)."""
        self._require_active("set_input_muted")
        if muted != self.muted:
            self.muted = muted
            self._send(
                {"type": "session.input_audio.mute" if muted else "session.input_audio.unmute"}
            )

    def answer(self, call_id: str, output: str) -> None:
        """Answer a :class:`ToolCall`: a client delegation or a backend function call."""
        self._require_active("send_tool_result")
        if call_id in self.pending_delegations:
            self.pending_delegations.discard(call_id)
            self.history.append(Turn(role="tool", text=output, metadata={"delegation_id": call_id}))
            kind = f"session.{self.settings.answer_channel}.append"
            for piece in _split(output or "(no result)", self.settings.append_max_chars):
                self._send({"type": kind, "content": piece, "delegation_id": call_id})
            return
        if self.backend.owns(call_id):
            self.history.append(Turn(role="tool", text=output, metadata={"call_id": call_id}))
            item = {"type": "function_call_output", "call_id": call_id, "output": output}
            self._send({"type": "response.item.create", "item": item})
            if self.backend.answered(call_id):
                self._send({"type": "response.create"})
            return
        raise S2SError(
            "send_tool_result", ErrorCode.INVALID_INPUT, f"openai_live: no pending call {call_id!r}"
        )

    def context(self, text: str, *, kind: str = "commentary") -> None:
        """Append session-wide context: ``commentary`` (to be said), ``thinking`` (silent)
        or ``instructions``.  The model words it itself: GPT-Live has no verbatim speech."""
        self._require_active("speak")
        for piece in _split(text, self.settings.append_max_chars):
            self._send({"type": f"session.{kind}.append", "content": piece, "delegation_id": None})

    def interrupt(self, played_ms: float | None) -> list[SessionEvent]:
        """Our side of a barge-in.  The model decides itself whether to stop talking (it
        is full duplex), so nothing is cancelled on the wire; what matters is that our
        history, and the model's context, keep only what the user heard.  ``played_ms``
        trims the reply being played, or the last one, to the heard share of its words
        and tells the model where the user stopped hearing it."""
        events: list[SessionEvent] = []
        reply = self.replies.current
        if played_ms is None:
            if reply is not None:
                events.append(Interrupted(reply.response_id))
            return events
        if reply is not None:
            for event in self._end_reply(cancelled=True):
                events.append(event)
        if self._last_reply is None:
            return events
        turn, total_ms = self._last_reply
        self._last_reply = None
        if total_ms <= 0 or played_ms >= total_ms - 1.0:
            return events
        words = turn.text.split()
        kept = " ".join(words[: int(len(words) * max(0.0, played_ms) / total_ms)])
        if kept == turn.text:
            return events
        turn.text = kept
        turn.metadata["truncated"] = True
        if self.state is State.ACTIVE:
            heard = f'"{kept}"' if kept else "nothing of it"
            note = (
                "The user interrupted your last reply and heard only "
                f"{heard}; do not assume they heard the rest."
            )
            self._send(
                {"type": "session.instructions.append", "content": note, "delegation_id": None}
            )
        return events

    def output_stopped(self) -> list[SessionEvent]:
        """The shell saw no output audio for ``idle_reply_timeout``: a live reply is over."""
        if self.replies.current is None:
            return []
        return self._end_reply()

    def close(self) -> bool:
        """Queue ``session.close``; False when there is no started session to close."""
        if self.state is not State.ACTIVE:
            return False
        self._move("close", "close")
        self._send({"type": "session.close"})
        return True

    # -- server messages --------------------------------------------------------------------

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

    def _turn_events(self, turn: Any) -> list[SessionEvent]:
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


def _split(text: str, limit: int) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, cut at spaces where possible."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind(" ", 0, limit)
        cut = cut if cut > limit // 2 else limit
        pieces.append(text[:cut].strip())
        text = text[cut:].strip()
    if text or not pieces:
        pieces.append(text)
    return pieces


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
