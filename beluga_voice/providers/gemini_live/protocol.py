"""The sans-I/O core of a Gemini Live session: server messages in, events and JSON out.

:class:`GeminiLiveProtocol` never touches a socket.  The I/O shell hands it every frame it
reads (:meth:`~GeminiLiveProtocol.receive` returns session events) and writes whatever text
the operations return, in order.  Keeping the state here makes the tricky parts testable
without a network:

* **Replies.**  Gemini has no response ids; :class:`~.turns.ReplyTracker` cuts the model's
  output into responses and its transcription fragments into final transcripts.
* **Manual activity detection.**  The first audio of a user turn is preceded by
  ``activityStart``; :meth:`end_turn` sends ``activityEnd``.
* **Transparent rotation.**  Every message sent since the last resumption handle that
  covers it is kept (:class:`~.replay.ReplayLog`).  After a ``goAway`` the shell moves to a
  new connection with the newest handle, and :meth:`take_ready` returns those messages for
  replay followed by anything the caller sent while the connection was down, so no user
  audio is lost across the switch.  A connection that *drops* is not the shell's to heal:
  the retry layer resumes with the handle and replays from its own journal.
* **Bounded repeats.**  When to switch, and how much a switch may repeat, is
  :class:`~.switch.SwitchPlan`'s business.

What the shell asks between connections (the setup message, what to replay, whether to
switch, what a close means) is the core's base class, in :mod:`.lifecycle`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from ..dispatch import Dispatcher, Handler
from ..errors import ErrorCode, S2SError
from ..events import (
    SessionEvent,
    SessionReady,
    SpeechStarted,
    SpeechStopped,
    ToolCall,
    ToolCallCancelled,
)
from . import wire
from .lifecycle import CloseVerdict, ConnectionLifecycle, Phase
from .replay import Outgoing, ReplayLog
from .settings import GeminiSettings
from .switch import SwitchPlan
from .turns import ReplyTracker

__all__ = ["SPEAK_PREFIX", "CloseVerdict", "GeminiLiveProtocol", "Phase"]

log = logging.getLogger("beluga_voice.providers.gemini")

SPEAK_PREFIX = "Say exactly this, word for word, and nothing else:\n"
_INPUT_BYTES_PER_S = 16000 * 2
_IGNORED = frozenset({"error"})  # raised before dispatch: the connection's end


class GeminiLiveProtocol(ConnectionLifecycle):
    """State of one logical Gemini Live session, across however many connections it takes."""

    def __init__(
        self,
        settings: GeminiSettings,
        *,
        external_reasoning: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.external_reasoning = external_reasoning
        self.clock = clock
        self.phase = Phase.SETUP
        self.connections = 0
        self.session_id: str | None = None
        self.last_replay_bytes = 0
        """Audio bytes released by the last :meth:`take_ready` (replayed or held)."""
        self.switch = SwitchPlan(settings.replay_margin_s, _INPUT_BYTES_PER_S)
        self._ready_sent = False
        self.replay = ReplayLog(
            int(settings.max_replay_s * _INPUT_BYTES_PER_S), enabled=settings.session_resumption
        )
        self._in_activity = False
        self._expecting_reply = False
        self._tool_names: dict[str, str] = {}
        self.replies = ReplyTracker(external_reasoning=external_reasoning)
        self._dispatch = Dispatcher("gemini_live", self._handlers(), ignored=_IGNORED)

    # -- client operations ----------------------------------------------------------------

    @property
    def manual(self) -> bool:
        return self.settings.activity_detection == "manual"

    def send_audio(self, pcm: bytes) -> list[str]:
        """``realtimeInput`` audio (PCM16 mono 16 kHz); manual mode opens the turn first."""
        if len(pcm) % 2:
            raise S2SError("send_audio", ErrorCode.INVALID_AUDIO_FORMAT, "odd byte count for PCM16")
        if not pcm:
            return []
        out = []
        if self.manual and not self._in_activity:
            self._in_activity = True
            out += self._send({"realtimeInput": {"activityStart": {}}})
        return out + self._send(wire.audio_message(pcm), audio=len(pcm))

    def end_turn(self) -> list[str]:
        """Manual mode: ``activityEnd``.  Automatic: ``audioStreamEnd`` flushes the VAD."""
        if self.manual:
            if not self._in_activity:
                return []
            self._in_activity = False
            self._expecting_reply = not self.external_reasoning
            return self._send({"realtimeInput": {"activityEnd": {}}})
        return self._send({"realtimeInput": {"audioStreamEnd": True}})

    def send_text(self, text: str) -> list[str]:
        if not text.strip():
            raise S2SError("send_text", ErrorCode.INVALID_INPUT, "empty text")
        self._expecting_reply = not self.external_reasoning
        return self._send(wire.text_turn_message(text))

    def speak(self, text: str) -> list[str]:
        """Have the model voice ``text`` verbatim (external reasoning)."""
        if not text.strip():
            raise S2SError("speak", ErrorCode.INVALID_INPUT, "empty text")
        self.replies.solicit()
        self._expecting_reply = True
        return self._send(wire.text_turn_message(SPEAK_PREFIX + text))

    def send_tool_result(self, call_id: str, output: str) -> list[str]:
        name = self._tool_names.pop(call_id, None)
        if name is None:
            raise S2SError(
                "send_tool_result", ErrorCode.INVALID_INPUT, f"no pending tool call {call_id!r}"
            )
        self._expecting_reply = True
        return self._send(wire.tool_response_message(call_id, name, output))

    def interrupt(self, played_ms: float | None = None) -> tuple[list[str], list[SessionEvent]]:
        """Client barge-in: drop the rest of the reply.

        Gemini keeps no client-side transcript to truncate: the server cuts its own memory
        of the reply when it is interrupted, so ``played_ms`` is only logged.  In manual
        mode the barge-in is also an ``activityStart``, which makes the server stop.
        """
        if self.replies.response is None:
            return [], []
        log.debug("gemini: interrupt after %s ms played", played_ms)
        events = self.replies.client_interrupt()
        out: list[str] = []
        if self.manual and not self._in_activity:
            self._in_activity = True
            out = self._send({"realtimeInput": {"activityStart": {}}})
        return out, events

    # -- server messages ------------------------------------------------------------------

    def receive(self, data: str | bytes) -> list[SessionEvent]:
        """Map one server frame to session events (raises S2SError on a bad message)."""
        message = wire.parse_server_message(data)
        error = wire.obj(message, "error")
        if error is not None:
            raise wire.error_from_message(error)
        if (
            self.phase == Phase.SETUP
            and message.get("setupComplete") is None
            and not self._ignorable_before_setup(message)
        ):
            raise S2SError(
                "receive", ErrorCode.INVALID_RESPONSE, "gemini: server spoke before setupComplete"
            )
        return self._dispatch.each(message, wire.obj)

    def _handlers(self) -> dict[str, Handler]:
        """Server message keys, in the order their effects apply when one message carries
        several (setup first: content may follow it in the same frame)."""
        return {
            "setupComplete": self._on_setup_complete,
            "serverContent": self._on_content,
            "toolCall": self._on_tool_call,
            "toolCallCancellation": self._on_tool_cancellation,
            "goAway": self._on_go_away,
            "sessionResumptionUpdate": self._on_resumption,
            "usageMetadata": self._on_usage,
            "voiceActivity": self._on_voice_activity,
        }

    def _ignorable_before_setup(self, message: dict[str, Any]) -> bool:
        return not (message.keys() & {"serverContent", "toolCall", "toolCallCancellation"})

    def _on_setup_complete(self, setup: dict[str, Any]) -> list[SessionEvent]:
        self.phase = Phase.OPEN
        self.session_id = wire.string(setup, "sessionId") or self.session_id
        if self._ready_sent:
            return []
        self._ready_sent = True
        return [SessionReady(session_id=self.session_id)]

    def _on_content(self, content: dict[str, Any]) -> list[SessionEvent]:
        events: list[SessionEvent] = []
        said = wire.obj(content, "inputTranscription")
        if said is not None:
            text = wire.string(said, "text")
            events += self.replies.user_text(text, wire.flag(said, "finished"))
        turn = wire.obj(content, "modelTurn")
        heard = wire.obj(content, "outputTranscription")
        chunks: list[bytes] = []
        rate = 24000
        for part in wire.array(turn, "parts") if turn is not None else []:
            if not isinstance(part, dict):
                raise wire.malformed("modelTurn.parts[] must be objects")
            inline = wire.obj(part, "inlineData")
            if inline is not None:
                rate = wire.audio_rate(wire.string(inline, "mimeType"))
                chunks.append(wire.b64decode(wire.string(inline, "data"), "inlineData.data"))
        text = wire.string(heard, "text") if heard is not None else ""
        if chunks or text:
            self._expecting_reply = False
        events += self.replies.model_output(chunks, rate, text)
        if wire.flag(content, "interrupted"):
            self._expecting_reply = False
            events += self.replies.interrupted()
        if wire.flag(content, "turnComplete"):
            self._expecting_reply = False
            events += self.replies.turn_complete()
        return events

    def _on_tool_call(self, call: dict[str, Any]) -> list[SessionEvent]:
        events = self.replies.flush_user()
        self._expecting_reply = False
        for fc in wire.array(call, "functionCalls"):
            if not isinstance(fc, dict):
                raise wire.malformed("toolCall.functionCalls[] must be objects")
            call_id = wire.string(fc, "id")
            name = wire.string(fc, "name")
            if not call_id or not name:
                raise wire.malformed("toolCall.functionCalls[] needs an id and a name")
            args = fc.get("args") or {}
            if not isinstance(args, dict):
                raise wire.malformed("functionCalls[].args must be an object")
            self._tool_names[call_id] = name
            events.append(ToolCall(call_id, name, json.dumps(args)))
        return events

    def _on_tool_cancellation(self, cancel: dict[str, Any]) -> list[SessionEvent]:
        ids = tuple(str(i) for i in wire.array(cancel, "ids"))
        for call_id in ids:
            self._tool_names.pop(call_id, None)
        return [ToolCallCancelled(ids)]

    def _on_go_away(self, go_away: dict[str, Any]) -> list[SessionEvent]:
        left = wire.duration_s(go_away, "timeLeft")
        log.info("gemini: goAway, time left %s s", left)
        self.switch.go_away_received(left, self.clock())
        return []

    def _on_resumption(self, update: dict[str, Any]) -> list[SessionEvent]:
        handle = wire.string(update, "newHandle")
        if not (wire.flag(update, "resumable") and handle):
            return []
        last = None
        if "lastConsumedClientMessageIndex" in update:
            last = wire.integer(update, "lastConsumedClientMessageIndex")
        self.switch.handle_received(handle, last, self.replay, self.clock())
        return []

    def _on_usage(self, usage: dict[str, Any]) -> list[SessionEvent]:
        return [wire.usage_event(usage)]

    def _on_voice_activity(self, activity: dict[str, Any]) -> list[SessionEvent]:
        # Vertex AI names the field ``type`` (the SDK's from_vertex converter).
        kind = wire.string(activity, "voiceActivityType") or wire.string(activity, "type")
        if kind == "ACTIVITY_START":
            return [SpeechStarted()]
        if kind == "ACTIVITY_END":
            return [SpeechStopped()]
        return []

    # -- the replay log ---------------------------------------------------------------------

    def _send(self, message: dict[str, Any], audio: int = 0) -> list[str]:
        out = Outgoing(wire.dumps(message), audio, realtime="realtimeInput" in message)
        if self.phase != Phase.OPEN or self.replay.holding:
            self.replay.hold(out)
            return []
        return [self.replay.release(out, self.clock())]

    @property
    def replay_bytes(self) -> int:
        """Audio bytes currently kept for a possible replay."""
        return self.replay.audio_bytes

    @property
    def dropped_audio_bytes(self) -> int:
        """Audio that fell out of the replay buffer (``max_replay_s``) before a handle
        covered it: a reconnect would lose it."""
        return self.replay.dropped_audio_bytes
