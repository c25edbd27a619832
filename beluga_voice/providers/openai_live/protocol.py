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
:class:`ToolCall` named ``delegate`` whose answer (``send_tool_result``)
goes back as ``session.commentary.append`` (or ``thinking``) with the delegation's id; a
Responses backend's function call is a :class:`ToolCall` under its own name whose answer
goes back as ``response.item.create`` + ``response.create``.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from ...conversation import Turn
from ..errors import ErrorCode, S2SError
from ..events import Interrupted, SessionEvent, Usage
from .backend import BackendEvents
from .inbound import ServerEvents
from .settings import OpenAILiveSettings
from .state import TRANSITIONS, State
from .turns import ReplyTracker, UserTurns
from .wire import session_config

__all__ = ["LiveProtocol", "State"]

log = logging.getLogger(__name__)


class LiveProtocol(ServerEvents):
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
        self._handlers = self._handler_table()

    # -- state machine ----------------------------------------------------------------------

    def _move(self, trigger: str, op: str) -> None:
        new = TRANSITIONS.get((self.state, trigger))
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
