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

from ...audio.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from ...conversation import Turn
from ...frames import AudioEncoding
from ..errors import ErrorCode, S2SError
from ..events import Interrupted, SessionError, SessionEvent
from .dialect import Dialect
from .history import history_items, speak_instructions
from .inbound import ServerEvents
from .playback import ReplyAudio
from .reply import Reply, ReplyState, ReplyStep
from .settings import RealtimeSettings

__all__ = ["Outbound", "RealtimeProtocol"]

log = logging.getLogger(__name__)

Outbound = dict[str, Any] | bytes
"""A wire message: a JSON event, or raw PCM for Grok's binary audio transport."""


class RealtimeProtocol:
    """Protocol state of one conversation, across all the connections that carry it.

    The reply's lifecycle is :attr:`reply` (a :class:`~.reply.Reply`, whose states and
    moves are a table in :mod:`.reply`); server messages are read by :attr:`inbound`.
    """

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
        # G.711 on the wire, PCM16 in the session: encode going out, decode coming in.
        self.encode: Callable[[bytes], bytes] | None = _ENCODERS.get(settings.audio_format)
        self.decode: Callable[[bytes], bytes] | None = _DECODERS.get(settings.audio_format)
        self.passthrough: AudioEncoding | None = None
        """Set by :meth:`pass_through`: the session's audio is the wire's G.711 as is."""
        self._outbox: list[Outbound] = []
        # Conversation state that survives a reconnect.
        self.ready = False
        self.session_id: str | None = None
        self.reply = Reply()
        self.user_speaking = False
        self.expired = False
        self.expired_error: S2SError | None = None
        self.fatal: S2SError | None = None
        self.setup_event_id: str | None = None
        self._setups = 0
        self.replayed_bytes = 0
        self.reply_audio = ReplyAudio(self.rate)
        """What was received of the current reply's audio, to cut it where the user
        stopped hearing it."""
        self.pending_calls: set[str] = set()
        self.assistant_turns: dict[str, Turn] = {}
        # What waits for the live reply to end: verbatim lines first, then one reply.
        self._queued_speech: deque[str] = deque()
        self._respond_when_done = False
        # User audio the server has not acknowledged with ``input_audio_buffer.committed``.
        self._unacked: deque[bytes] = deque()
        self._unacked_bytes = 0
        self._since_commit = 0
        self._commit_pending = False
        self._creates = 0
        self.create_event_id: str | None = None
        self.inbound = ServerEvents(self)

    # -- outbox -----------------------------------------------------------------------------

    def take_outbound(self) -> list[Outbound]:
        """Wire messages queued since the last call, in order."""
        out, self._outbox = self._outbox, []
        return out

    def requeue(self, messages: list[Outbound]) -> None:
        """Put back messages that could not be sent (no connection): they go out first."""
        self._outbox[:0] = messages

    def queue(self, message: Outbound) -> None:
        """Queue one wire message (for the receiving side's follow-ups)."""
        self._outbox.append(message)

    @property
    def response_id(self) -> str | None:
        """The server's id of the running reply."""
        return self.reply.response_id

    @property
    def response_live(self) -> bool:
        """A reply is asked for or running: another one would be refused."""
        return self.reply.live

    @property
    def idle(self) -> bool:
        """Nothing in flight: a good moment to move to a new connection."""
        return not (self.response_live or self.user_speaking or self.pending_calls)

    # -- client operations ------------------------------------------------------------------

    def open(self) -> None:
        """Configure a new connection and re-seed it with the conversation so far.

        On a reconnect, unacknowledged user audio is replayed and a reply that the drop
        cut short is asked for again.  Messages still queued for the old connection are
        dropped: everything they carried is in the state rebuilt here (history items,
        replayed audio, a pending commit, a requested reply), and sending them as well
        would duplicate it.
        """
        self._outbox = []
        session = self.dialect.session(self.settings, auto_respond=self.auto_respond)
        self._setups += 1
        self.setup_event_id = f"beluga_setup_{self._setups}"
        self._outbox.append(
            {"type": "session.update", "event_id": self.setup_event_id, "session": session}
        )
        turns = self.history[-self.settings.reseed_max_turns :] if self.history else []
        for item in history_items(turns, self.dialect.assistant_part):
            self._outbox.append({"type": "conversation.item.create", "item": item})
        for chunk in self._unacked:
            self._outbox.append(self._append_message(chunk))
        self.replayed_bytes = self._unacked_bytes
        # A reply cut short (or asked for and never started) is asked for again; a
        # verbatim line is spoken again from its start.  One the user interrupted is not.
        reply = self.reply
        respeak: str | None = None
        redo_reply = False
        if reply.state is ReplyState.ACTIVE:
            respeak = reply.live_line
            redo_reply = respeak is None
        elif reply.state is ReplyState.REQUESTED:
            respeak = reply.speak_line
            redo_reply = respeak is None
        reply.move(ReplyStep.RESET)
        reply.speak_line = None  # asked for on the old connection; respoken below if due
        self.user_speaking = False
        self._since_commit = self._unacked_bytes
        if self._commit_pending and self._unacked_bytes:
            self._outbox.append({"type": "input_audio_buffer.commit"})
            redo_reply = redo_reply or self.auto_respond
        if respeak is not None:
            self.speak(respeak)
        elif redo_reply:
            self._request_response()

    def pass_through(self, encoding: AudioEncoding) -> bool:
        """Take and give the wire's G.711 as it is (see ``StreamingSession.pass_through``)."""
        if self.settings.audio_format != f"audio/{encoding}":
            return False
        self.passthrough = encoding
        return True

    def pcm_size(self, data: bytes) -> int:
        """Bytes of PCM16 that ``data`` stands for (the unit of every count kept here)."""
        return 2 * len(data) if self.passthrough is not None else len(data)

    def audio(self, pcm: bytes) -> None:
        if len(pcm) % 2 and self.passthrough is None:
            raise S2SError("send_audio", ErrorCode.INVALID_AUDIO_FORMAT, "odd byte count for PCM16")
        if not pcm:
            return
        pcm = bytes(pcm)
        self._unacked.append(pcm)
        size = self.pcm_size(pcm)
        self._unacked_bytes += size
        self._since_commit += size
        limit = self.settings.replay_max_ms * self.rate * 2 // 1000
        while self._unacked and self._unacked_bytes - self.pcm_size(self._unacked[0]) >= limit:
            self._unacked_bytes -= self.pcm_size(self._unacked.popleft())
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
        """Voice ``text`` verbatim, out of band: the model sees no conversation context.

        While another reply is live the line waits for it to end: the service accepts one
        response at a time and would reject this one.
        """
        if self.response_live:
            self._queued_speech.append(text)
            return
        if self.dialect.force_message:
            # xAI synthesises the line as written and runs a whole response for it.
            item = {
                "type": "force_message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text}],
            }
            self._outbox.append(
                {
                    "type": "conversation.item.create",
                    "event_id": self._next_create_id(),
                    "item": item,
                }
            )
        else:
            response = {
                "conversation": "none",
                "input": [],
                "instructions": speak_instructions(text),
            }
            self._outbox.append(
                {
                    "type": "response.create",
                    "event_id": self._next_create_id(),
                    "response": response,
                }
            )
        self.reply.move(ReplyStep.REQUEST)
        self.reply.speak_line = text

    def tool_result(self, call_id: str, output: str) -> None:
        item = {"type": "function_call_output", "call_id": call_id, "output": output}
        self._outbox.append({"type": "conversation.item.create", "item": item})
        self.pending_calls.discard(call_id)
        self.history.append(Turn(role="tool", text=output, metadata={"call_id": call_id}))
        if not self.pending_calls:
            self._request_response()

    def interrupt(self, played_ms: float | None) -> list[SessionEvent]:
        """Barge-in: cancel a live reply and make the server forget what was not heard."""
        events: list[SessionEvent] = []
        if self.reply.cancellable:
            events.append(Interrupted(self.response_id))
            # Asked for and not started, a cancel now would be a no-op: the state
            # remembers to cancel it when it is created.
            if self.reply.move(ReplyStep.CANCEL) is ReplyState.CANCELLING:
                self._outbox.append({"type": "response.cancel"})
        self._queued_speech.clear()  # lines queued for a conversation that moved on
        if played_ms is not None and self.reply.live_line is None:
            for cut in self.reply_audio.truncations(played_ms):
                self._outbox.append(
                    {
                        "type": "conversation.item.truncate",
                        "item_id": cut.item_id,
                        "content_index": cut.content_index,
                        "audio_end_ms": cut.audio_end_ms,
                    }
                )
                self._trim_turn(cut.item_id, played_ms)
            self.reply_audio = ReplyAudio(self.rate)
        return events

    # -- server messages --------------------------------------------------------------------

    def receive(self, message: str | bytes) -> list[SessionEvent]:
        """Map one server message to session events.  Never raises: a bad message becomes
        a non-fatal ``malformed_response`` :class:`SessionError`."""
        if isinstance(message, bytes | bytearray | memoryview):
            return self.inbound.binary(bytes(message))
        try:
            event = json.loads(message)
        except (ValueError, TypeError, RecursionError) as exc:
            return [_malformed(f"not JSON ({type(exc).__name__})")]
        etype = event.get("type") if isinstance(event, dict) else None
        if not isinstance(etype, str):
            return [_malformed("server event without a 'type'")]
        kind = self.dialect.aliases.get(etype, etype)
        try:
            return self.inbound.dispatch(kind, event)
        except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as exc:
            return [_malformed(f"bad {kind!r} event ({type(exc).__name__}: {exc})")]

    # -- helpers ----------------------------------------------------------------------------

    def audio_acknowledged(self) -> None:
        """``input_audio_buffer.committed``: the server has the audio; replay none of it."""
        self._unacked.clear()
        self._unacked_bytes = 0
        self._commit_pending = False
        if not self.local_turns:
            self._since_commit = 0

    def next_reply(self) -> None:
        """The reply ended: start what waited for it (a queued line, then a reply)."""
        if self._queued_speech:
            self.speak(self._queued_speech.popleft())
        elif self._respond_when_done and not self.pending_calls:
            self._respond_when_done = False
            self._request_response()

    def _request_response(self) -> None:
        if self.response_live:  # one response at a time: ask again when this one ends
            self._respond_when_done = True
            return
        self._outbox.append({"type": "response.create", "event_id": self._next_create_id()})
        self.reply.move(ReplyStep.REQUEST)

    def _next_create_id(self) -> str:
        """Tag each response request, so that an error naming it can release it."""
        self._creates += 1
        self.create_event_id = f"beluga_rc_{self._creates}"
        return self.create_event_id

    def _append_message(self, pcm: bytes) -> Outbound:
        encode = self.encode if self.passthrough is None else None
        data = encode(pcm) if encode is not None else pcm
        if self.binary:
            return data
        return {"type": "input_audio_buffer.append", "audio": base64.b64encode(data).decode()}

    def _trim_turn(self, item_id: str, played_ms: float) -> None:
        turn = self.assistant_turns.get(item_id)
        if turn is None:
            return
        fraction = self.reply_audio.heard_fraction(item_id, played_ms)
        words = turn.text.split()
        turn.text = " ".join(words[: round(len(words) * fraction)])
        turn.metadata["truncated"] = True


_ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "audio/pcmu": ulaw_encode,
    "audio/pcma": alaw_encode,
}
_DECODERS: dict[str, Callable[[bytes], bytes]] = {
    "audio/pcmu": ulaw_decode,
    "audio/pcma": alaw_decode,
}


def _malformed(why: str) -> SessionError:
    return SessionError(S2SError("receive", ErrorCode.MALFORMED_RESPONSE, why))
