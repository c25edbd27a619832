"""The backend side of the protocol core: provider session events to server events.

A mixin of :class:`~.core.RealtimeServerCore`, split off because it is the other half of
the conversation: how a provider's neutral events (:mod:`beluga_voice.providers.events`)
become OpenAI's speech, transcription, response and function-call events, and how a
barge-in or a cancel discards what the backend still sends for a cut reply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...conversation import Turn
from ...providers.events import (
    AudioChunk,
    Interrupted,
    ResponseDone,
    ResponseStarted,
    SessionClosed,
    SessionError,
    SessionEvent,
    SpeechStarted,
    SpeechStopped,
    ToolCall,
    Transcript,
    Usage,
)
from ...secrets import redact
from .actions import CloseConnection, Interrupt
from .audio import OutputConverter, bytes_to_ms
from .outbox import CoreState
from .responses import ResponseState, Status, new_id

if TYPE_CHECKING:
    from .schema import ResponseParams

__all__ = ["BackendEvents"]

CLOSE_BACKEND_GONE = 1011


class BackendEvents(CoreState):
    """See the module docstring.  The attributes are :class:`~.core.RealtimeServerCore`'s."""

    discard: set[str | None]
    discarding: bool
    cancel_next_start: bool
    _out: OutputConverter

    # -- dispatch -------------------------------------------------------------------------

    def on_backend(self, event: SessionEvent) -> None:
        """One event from the backend session."""
        if isinstance(event, AudioChunk):
            self._on_audio(event)
        elif isinstance(event, Transcript):
            self._on_transcript(event)
        elif isinstance(event, SpeechStarted):
            self._on_speech_started(event)
        elif isinstance(event, SpeechStopped):
            self.emit(
                {
                    "type": "input_audio_buffer.speech_stopped",
                    "audio_end_ms": int(event.audio_end_ms or 0),
                    "item_id": self.user_item_id,
                }
            )
            self.commit_user_item()
        elif isinstance(event, ResponseStarted):
            self._on_response_started(event.response_id)
        elif isinstance(event, ResponseDone):
            self._on_response_done(event)
        elif isinstance(event, Interrupted):
            r = self.response
            if r is not None and event.response_id in (None, r.backend_id):
                self.cancel_response("turn_detected", tell_backend=False)
        elif isinstance(event, ToolCall):
            self._on_tool_call(event)
        elif isinstance(event, Usage):
            if self.response is not None:
                u = self.response.usage
                u["input_tokens"] += event.input_tokens
                u["output_tokens"] += event.output_tokens
                u["total_tokens"] += event.total_tokens or event.input_tokens + event.output_tokens
        elif isinstance(event, SessionError):
            err = event.error
            self.error(redact(str(err)), err.code.value, kind="server_error")
            if event.fatal and self.response is not None:
                self.finish_response(
                    "failed", error={"type": "server_error", "code": err.code.value}
                )
        elif isinstance(event, SessionClosed):
            self._on_closed(event)
        # SessionReady, SessionReconnected, ProviderSwitched, ToolCallCancelled: the
        # backend's own business (retry and fallback keep the conversation going).

    # -- speech in --------------------------------------------------------------------------

    def _on_speech_started(self, event: SpeechStarted) -> None:
        self.emit(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": int(event.audio_start_ms or 0),
                "item_id": self.user_item_id,
            }
        )
        td = self.session.turn_detection or {}
        if self.response is not None and td.get("interrupt_response", True):
            self.cancel_response("turn_detected")

    def _on_transcript(self, event: Transcript) -> None:
        if event.role == "assistant":
            if self.discarding or (event.final and self.response is None):
                return  # of a reply that was cut, or a late summary of one already done
            r = self._ensure_audio_item()
            if event.final:
                r.final_transcript = event.text
            else:
                delta = r.transcript_delta(event.text)
                if delta is not None:
                    self.emit(delta)
            return
        item_id = self.awaiting_transcript
        if item_id is None or item_id not in self.items:
            if not event.final:
                return  # a guess while the user still speaks: the item does not exist yet
            item_id = self.commit_user_item()
        base = {"item_id": item_id, "content_index": 0}
        if not event.final:
            # Recognisers revise their guesses; OpenAI's deltas only append, so send what
            # extends the last guess and keep revisions for the final transcript.
            if event.text.startswith(self.partial_user) and event.text != self.partial_user:
                piece = event.text[len(self.partial_user) :]
                self.partial_user = event.text
                self.emit(
                    {
                        "type": "conversation.item.input_audio_transcription.delta",
                        **base,
                        "delta": piece,
                    }
                )
            return
        self.emit(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                **base,
                "transcript": event.text,
                "usage": {"type": "duration", "seconds": 0},
            }
        )
        item = self.items[item_id]
        item["content"] = [{"type": "input_audio", "transcript": event.text}]
        turn = Turn(role="user", text=event.text)
        self.context.history.append(turn)
        self.turns[item_id] = turn
        self.awaiting_transcript = None
        self.partial_user = ""

    # -- responses --------------------------------------------------------------------------

    def start_response(
        self, backend_id: str | None, params: ResponseParams | None = None
    ) -> ResponseState:
        in_band = params is None or params.conversation != "none"
        r = ResponseState(
            id=new_id("resp"),
            in_conversation=in_band,
            conversation_id=self.conversation_id,
            metadata=params.metadata if params is not None else None,
            voice=self.session.voice,
            output_format=self.session.snapshot()["audio"]["output"]["format"],
            backend_id=backend_id,
        )
        self.response = r
        self.emit(r.created())
        return r

    def _on_response_started(self, backend_id: str | None) -> None:
        self.discarding = False
        if self.cancel_next_start:  # cancelled before the backend began: stop it now
            self.cancel_next_start = False
            self.discard.add(backend_id)
            self.discarding = True
            self._actions.append(Interrupt(None))
            return
        r = self.response
        if r is not None and r.backend_id is None:
            r.backend_id = backend_id  # the backend began the response the client asked for
            return
        if r is not None:  # a new reply while one is open: the open one is complete
            self.finish_response("completed")
        self.start_response(backend_id)

    def _on_response_done(self, event: ResponseDone) -> None:
        if event.response_id in self.discard:
            self.discard.discard(event.response_id)
            self.discarding = False
            return
        r = self.response
        if r is None or (
            r.backend_id is not None and event.response_id not in (None, r.backend_id)
        ):
            return
        self.finish_response(event.status, event.reason if event.status != "failed" else None)

    def _ensure_response(self) -> ResponseState:
        return self.response if self.response is not None else self.start_response(None)

    def _ensure_audio_item(self) -> ResponseState:
        r = self._ensure_response()
        if r.audio_item is None:
            previous = next(reversed(self.items), None)
            for event in r.open_audio_item(previous):
                self.emit(event)
            if r.in_conversation and r.audio_item is not None:
                self.items[r.audio_item["id"]] = r.audio_item
                self.audio_ms[r.audio_item["id"]] = 0.0
        return r

    def _on_audio(self, chunk: AudioChunk) -> None:
        if chunk.error is not None or not chunk.audio:
            return
        if self.discarding or (chunk.response_id is not None and chunk.response_id in self.discard):
            return
        r = self.response
        if (
            r is not None
            and r.backend_id is not None
            and chunk.response_id not in (None, r.backend_id)
        ):
            self.finish_response("completed")  # the backend moved on to a new reply
        r = self._ensure_audio_item()
        if r.backend_id is None:
            r.backend_id = chunk.response_id
        wire = self._out(chunk.audio, chunk.sample_rate)
        if wire:
            self.emit(r.audio_delta(wire, bytes_to_ms(len(wire), self.session.output_format)))

    def _on_tool_call(self, call: ToolCall) -> None:
        r = self._ensure_response()
        previous = next(reversed(self.items), None)
        events, item = r.function_call(call.call_id, call.name, call.arguments, previous)
        for event in events:
            self.emit(event)
        if r.in_conversation:
            self.items[item["id"]] = item
        # The call ends the response: the client answers with function_call_output and
        # response.create, and what the backend says next is a new response.
        self.finish_response("completed")

    def cancel_response(self, reason: str, *, tell_backend: bool = True) -> None:
        """End the response now as cancelled; drop what the backend still sends for it."""
        r = self.response
        if r is None:
            return
        if r.backend_id is None and r.audio_item is None:
            self.cancel_next_start = True  # asked for, not begun: cancel it when it does
        else:
            if len(self.discard) >= 64:  # a backend that never ends what it was told to stop
                self.discard.clear()
            self.discard.add(r.backend_id)
            self.discarding = True
        if tell_backend:
            self._actions.append(Interrupt(None))
        self._out.reset()
        self.finish_response("cancelled", reason)

    def finish_response(
        self, status: Status, reason: str | None = None, *, error: dict[str, Any] | None = None
    ) -> None:
        r = self.response
        if r is None:
            return
        if status == "completed" and r.audio_item is not None:
            tail = self._out.flush()
            if tail:
                self.emit(r.audio_delta(tail, bytes_to_ms(len(tail), self.session.output_format)))
        self.response = None
        events, item = r.finish(status, reason, error)
        for event in events:
            self.emit(event)
        if item is not None and r.in_conversation:
            self.items[item["id"]] = item
            self.audio_ms[item["id"]] = r.audio_ms
            self.last_assistant_item = item["id"]
            if r.transcript:
                turn = Turn(role="assistant", text=r.transcript)
                self.context.history.append(turn)
                self.turns[item["id"]] = turn

    def _on_closed(self, event: SessionClosed) -> None:
        err = event.error
        code = err.code.value if err is not None else "backend_closed"
        if self.response is not None:
            self.finish_response("failed", error={"type": "server_error", "code": code})
        message = redact(str(err)) if err is not None else event.reason or "closed"
        self.error(f"the voice backend ended the session: {message}", code, kind="server_error")
        self._actions.append(CloseConnection(CLOSE_BACKEND_GONE, "backend session ended"))
