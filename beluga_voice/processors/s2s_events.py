"""The provider's half of :class:`~beluga_voice.processors.s2s.S2SProcessor`: session
events become frames.

Why apart from ``s2s.py``: that module takes frames in (user audio, barge-in, typed text,
lines to voice) and runs the session's lifecycle; this one reads the session's events and
says them to the pipeline: reply audio, transcripts, speech and reply boundaries, the
first step of a barge-in (and the second, the truncation, which must know which reply
it cut), tool calls and delegation to the agent, usage, provider switches and errors.
:class:`S2SEvents` is the base of ``S2SProcessor`` and of nothing else; its state is made
by ``S2SProcessor.__init__`` and declared here, where it is used.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..frames import (
    Direction,
    ErrorFrame,
    InterruptionFrame,
    MetricsFrame,
    OutputAudioFrame,
    ProviderSwitchedFrame,
    ResponseEndFrame,
    ResponseStartFrame,
    ToolCallFrame,
    ToolResultFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from ..pipeline.processor import FrameProcessor
from ..providers.base import S2SProvider, StreamingSession
from ..providers.config import ReasoningMode
from ..providers.errors import ErrorCode, S2SError
from ..providers.events import (
    DELEGATE_TOOL,
    AudioChunk,
    Interrupted,
    ProviderSwitched,
    ResponseDone,
    ResponseStarted,
    SessionClosed,
    SessionError,
    SessionEvent,
    SessionReconnected,
    SpeechStarted,
    SpeechStopped,
    ToolCall,
    ToolCallCancelled,
    Transcript,
    Usage,
)

if TYPE_CHECKING:
    from ..agents.base import Agent
    from ..agents.tools import ToolRegistry
    from ..conversation import ConversationContext
    from .latency import TurnLatency
    from .reply_watch import ReplyWatch
    from .s2s_audio import AudioPath
    from .tool_calls import ToolCalls
    from .voicing import Voicing

__all__ = ["S2SEvents"]

log = logging.getLogger("beluga_voice.s2s")
_UP = Direction.UPSTREAM


class S2SEvents(FrameProcessor):
    """What :class:`~beluga_voice.processors.s2s.S2SProcessor` does with the session's
    events.  See the module docstring: the base of ``S2SProcessor`` only."""

    # The state, made by S2SProcessor.__init__ (see there for what each holds).
    provider: S2SProvider
    session: StreamingSession | None
    context: ConversationContext
    tools: ToolRegistry
    agent: Agent | None
    reasoning_mode: ReasoningMode
    tool_calls: ToolCalls
    latency: TurnLatency
    audio: AudioPath
    voicing: Voicing
    _watch: ReplyWatch
    _interrupt_pushed: bool
    _responses: int
    _barged_at: int | None
    _last_error: S2SError | None

    async def _read_events(self) -> None:
        assert self.session is not None
        async for event in self.session:
            await self._on_event(event)
            if isinstance(event, SessionClosed):
                return

    async def _on_event(self, event: SessionEvent) -> None:
        if isinstance(event, AudioChunk):
            self._watch.activity()
            await self._on_audio(event)
        elif isinstance(event, Transcript):
            self._watch.activity()
            await self._on_transcript(event)
        elif isinstance(event, SpeechStarted):
            self._watch.speech_started()
            await self.push_frame(UserStartedSpeakingFrame())
            if self.provider.capabilities.server_vad:
                await self._barge_in()
        elif isinstance(event, SpeechStopped):
            self._watch.speech_stopped()
            self.latency.user_stopped()
            await self.push_frame(UserStoppedSpeakingFrame())
        elif isinstance(event, Interrupted):
            await self._barge_in()
        elif isinstance(event, ResponseStarted):
            self._responses += 1
            self.voicing.reply_started()
            self._watch.reply_started()
            await self.push_frame(ResponseStartFrame())
        elif isinstance(event, ResponseDone):
            if tail := self.audio.reply_tail():
                await self._play(tail)  # the reply's last ms, before its end
            self._watch.reply_done()
            await self.voicing.reply_done()  # the next line, at once: no gap for the watch
            await self.push_frame(ResponseEndFrame(interrupted=event.status == "cancelled"))
        elif isinstance(event, ToolCall):
            if event.name == DELEGATE_TOOL and DELEGATE_TOOL not in self.tools and self.agent:
                # The model delegated to the application: the agent does the work, in its
                # own task, while the model keeps the conversation going.
                self.create_task(self._delegate, event, name=f"{self.name}.delegation")
            else:
                await self.tool_calls.start(event)
        elif isinstance(event, ToolCallCancelled):
            self.tool_calls.cancel(event.call_ids)  # the provider forgot them: no answer
        elif isinstance(event, Usage):
            await self.push_frame(
                MetricsFrame(
                    {"input_tokens": event.input_tokens, "output_tokens": event.output_tokens},
                    source=self.name,
                )
            )
        elif isinstance(event, ProviderSwitched):
            await self.push_frame(
                ProviderSwitchedFrame(
                    event.from_provider,
                    event.to_provider,
                    event.reason,
                    self.audio.ms(event.replayed_bytes),
                )
            )
        elif isinstance(event, SessionReconnected):
            await self.push_frame(
                ProviderSwitchedFrame(
                    event.provider, event.provider, "reconnect", self.audio.ms(event.replayed_bytes)
                )
            )
        elif isinstance(event, SessionError):
            await self._report(event.error, fatal=event.fatal)
        elif isinstance(event, SessionClosed):
            self.voicing.clear()
            self._watch.reply_done()  # nothing more will come
            self.tool_calls.cancel()  # their answers could not be sent
            if event.error is not None and event.error is not self._last_error:
                await self._report(event.error, fatal=True)  # not told by a SessionError

    async def _barge_in(self) -> None:
        """Flush playback downstream, once per reply (speech start and the provider's own
        interruption notice often both arrive); tools still running are cancelled."""
        self.tool_calls.cancel(reason="the user interrupted")
        self.voicing.clear()
        self.audio.drop_reply_tail()
        if not self._interrupt_pushed:
            self._interrupt_pushed = True
            self._barged_at = self._responses
            await self.push_frame(InterruptionFrame())

    async def _truncate(self, session: StreamingSession, played_ms: float | None) -> None:
        """Second step of a barge-in: tell the provider how much of its reply was heard.

        Skipped when the provider has started a new reply since the barge-in (a short
        interjection, or input fed faster than real time): ``interrupt`` acts on the reply
        in progress, so it would cut the answer to the interjection instead.  The model
        then remembers the interrupted reply whole, the lesser harm.
        """
        barged_at, self._barged_at = self._barged_at, None
        if barged_at is not None and barged_at != self._responses:
            log.debug("%s: a reply began after the barge-in; not truncating", self.name)
            return
        await session.interrupt(played_ms)

    async def _on_audio(self, chunk: AudioChunk) -> None:
        if chunk.error is not None:
            return  # reported by the SessionError that accompanies it
        if chunk.audio and (audio := self.audio.from_provider(chunk)):
            await self._play(audio)

    async def _play(self, audio: bytes) -> None:
        self.latency.first_audio()
        self._interrupt_pushed = False
        out = self.audio
        await self.push_frame(OutputAudioFrame(audio, out.output_rate, encoding=out.encoding))

    async def _on_transcript(self, event: Transcript) -> None:
        await self.push_frame(TranscriptionFrame(event.text, final=event.final, role=event.role))
        if not event.final:
            return
        self.context.add_turn(event.role, event.text)
        if (
            event.role == "user"
            and self.reasoning_mode == "external"
            and self.agent is not None
            and not self.provider.capabilities.delegation  # the model asks by delegating
        ):
            self.create_task(self._ask_agent, event.text, name=f"{self.name}.agent")

    async def _agent_reply(self, text: str) -> str:
        assert self.agent is not None
        pieces = [piece async for piece in self.agent.respond(text, self.context)]
        return "".join(pieces).strip()

    async def _ask_agent(self, text: str) -> None:
        """Voice the agent's reply sentence by sentence as it streams."""
        assert self.agent is not None
        await self.voicing.stream(self.agent.respond(text, self.context))

    async def _send_tool_result(self, call_id: str, output: str) -> None:
        if self.session is not None and not self.session.closed:
            await self.session.send_tool_result(call_id, output)

    async def _delegate(self, call: ToolCall) -> None:
        assert self.session is not None
        await self.push_frame(ToolCallFrame(call.call_id, call.name, call.arguments))
        try:
            args = call.parsed_arguments()
            task = str(args.get("task") or "") if isinstance(args, dict) else ""
            output = await self._agent_reply(task)
        except Exception as exc:  # the model must hear that the work failed, not wait
            output = f"The request could not be completed ({type(exc).__name__})."
            await self._report(
                S2SError("delegate", ErrorCode.INTERNAL_ERROR, f"agent failed: {exc}"), fatal=False
            )
        await self.push_frame(ToolResultFrame(call.call_id, output))
        await self._send_tool_result(call.call_id, output)

    async def _report(self, error: S2SError, *, fatal: bool) -> None:
        self._last_error = error
        await self.push_frame(
            ErrorFrame(
                str(error), code=error.code.value, fatal=fatal, source=self.name, cause=error
            ),
            _UP,
        )
