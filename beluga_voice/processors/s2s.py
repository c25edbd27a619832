"""The S2S provider processor: a live provider session inside a pipeline.

Input audio frames go to the provider session (down-mixed and resampled to a rate the
provider takes); session events come back as frames: reply audio (resampled to the
pipeline's output rate), transcripts, barge-in interruptions, tool calls and errors.

Barge-in takes two steps, because only the output transport knows what was heard: an
InterruptionFrame makes the processor cancel the reply at once (``interrupt(None)``), and
the interrupted BotStoppedSpeakingFrame the transport then sends upstream carries the
milliseconds actually played, which the processor passes on (``interrupt(played_ms)``) so
the provider truncates its memory of the reply to what the user heard.

External reasoning, from either side (docs/guide.md, "External reasoning"): the provider
voices the bot's lines it is given, sentence by sentence as they stream
(:mod:`~beluga_voice.processors.voicing`, which also sorts the frames):

* a ``SpeakFrame`` from either direction is a line to say verbatim;
* frames travelling *upstream* come from processors after this one, which get the final
  user ``TranscriptionFrame`` s it pushes: their ``TextFrame`` pieces are the bot's reply,
  streamed (a ``ResponseEndFrame`` says it is complete);
* *downstream*, a ``TextFrame`` is the user's typed message, except between a
  ``ResponseStartFrame`` and a ``ResponseEndFrame``: there it is a reply streamed by an
  agent in front of this processor (an :class:`~beluga_voice.processors.agent.AgentProcessor`
  fed by speech recognition), voiced, never sent as user text.

The reply framing and the agent's own assistant transcript stop here: the provider
reports its replies itself.

This module takes frames in and runs the session; what the session says back (its
events, made frames) is the processor's base class, in ``s2s_events.py``.
"""

from __future__ import annotations

import logging
from typing import Literal

import anyio

from ..agents.base import Agent
from ..agents.tools import ToolRegistry
from ..conversation import ConversationContext, new_conversation_context
from ..frames import (
    BotStoppedSpeakingFrame,
    Direction,
    Frame,
    InputAudioFrame,
    InputMuteFrame,
    InterruptionFrame,
    StartFrame,
    TextFrame,
    UserStoppedSpeakingFrame,
    UserTurnEndedFrame,
)
from ..providers.base import S2SProvider, StreamingSession
from ..providers.config import LATENCY_BUDGETS
from ..providers.errors import S2SError
from .latency import TurnLatency
from .reply_watch import ReplyWatch
from .s2s_audio import AudioPath
from .s2s_events import S2SEvents
from .tool_calls import ToolCalls
from .voicing import Voicing

__all__ = ["S2SProcessor"]

log = logging.getLogger("beluga_voice.s2s")
_END_QUIET = 1.0
"""Silence sent after the last user audio at a graceful end, for a server-side turn
detector to hear the turn end (s)."""
_END_SETTLE = 0.75
"""Quiet after the last user audio that means the provider heard no turn in it (s)."""
_END_PATIENCE = 5.0
"""Silence of a session that owes a reply after which a graceful end gives up (s)."""
_DOWN = Direction.DOWNSTREAM
_UP = Direction.UPSTREAM


class S2SProcessor(S2SEvents):
    """Runs one provider session for the life of the pipeline.

    ``reasoning_mode="external"`` sends final user transcripts to ``agent`` and has the
    provider voice the agent's reply as it streams (the provider must then not answer by
    itself; every built-in provider honours ``config.reasoning_mode``).  Without an
    ``agent``, a processor after this one answers (see the module docstring).  A delegating provider
    (``capabilities.delegation``, GPT-Live) talks by itself and hands work over instead:
    the agent answers its ``delegate`` tool calls.  Tool calls are answered from
    ``tools``, beside the event reader (see :mod:`~beluga_voice.processors.tool_calls`):
    at most ``max_tool_calls`` at a time, each within ``tool_timeout`` seconds, cancelled
    on barge-in and when the session ends.  An ``InputMuteFrame`` mutes the user towards
    the model (silence is sent in place of their audio).  ``forward_input_audio`` passes
    user audio on downstream (an output transport that records the conversation needs it).

    The provider session is closed in :meth:`on_stop` and, should the stop deadline
    cancel the processor before that ran or finished, in :meth:`on_cleanup`: the
    connection and the provider's session slot are released on every exit path.
    """

    def __init__(
        self,
        provider: S2SProvider,
        *,
        context: ConversationContext | None = None,
        tools: ToolRegistry | None = None,
        agent: Agent | None = None,
        reasoning_mode: Literal["built-in", "external"] | None = None,
        forward_input_audio: bool = True,
        tool_timeout: float = 30.0,
        max_tool_calls: int = 4,
        end_timeout: float = 10.0,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name or f"S2S[{provider.name}]")
        self.provider = provider
        self.context = context or new_conversation_context()
        self.tools = tools or ToolRegistry()
        self.agent = agent
        self.reasoning_mode = reasoning_mode or provider.config.reasoning_mode
        self.forward_input_audio = forward_input_audio
        self.tool_calls = ToolCalls(
            self, self.tools, self._send_tool_result, timeout=tool_timeout, limit=max_tool_calls
        )
        self.session: StreamingSession | None = None
        self.latency = TurnLatency(LATENCY_BUDGETS[provider.config.latency_target])
        self.audio = AudioPath(lambda: self.provider.capabilities.input_sample_rates)
        self._interrupt_pushed = False
        self._responses = 0
        """Replies the provider started so far."""
        self._barged_at: int | None = None
        """``_responses`` when the last barge-in happened (None: none pending)."""
        self._last_error: S2SError | None = None
        self._muted = False
        self.end_timeout = end_timeout
        self._watch = ReplyWatch()
        self.voicing = Voicing(self._speak_line)
        """The bot's lines waiting to be voiced (external reasoning, ``SpeakFrame``)."""

    def with_provider(self, provider: S2SProvider) -> S2SProcessor:
        """A processor like this one over ``provider`` (the wrapping processors put a
        retrying or fallback provider under it).  Context, tools and agent are shared."""
        return S2SProcessor(
            provider,
            context=self.context,
            tools=self.tools,
            agent=self.agent,
            reasoning_mode=self.reasoning_mode,
            forward_input_audio=self.forward_input_audio,
            tool_timeout=self.tool_calls.timeout,
            max_tool_calls=self.tool_calls.limit,
            name=self.name,
        )

    # -- lifecycle ------------------------------------------------------------------------

    async def on_start(self, frame: StartFrame) -> None:
        audio = self.audio
        audio.output_rate = frame.output_sample_rate
        audio.encoding = frame.audio_encoding
        self.session = await self.provider.start_streaming(self.context)
        if audio.encoding != "pcm16":
            audio.native = self.session.pass_through(audio.encoding)
        self.create_task(self._read_events, name=f"{self.name}.events")

    async def on_end(self) -> None:
        """The input ended: get the answer to the last thing said before closing.

        Waits (see :class:`~.reply_watch.ReplyWatch`) up to ``end_timeout`` seconds; the
        pipeline's stop deadline, when a stop was asked for, bounds it too.  A reasoning
        processor after this one may be writing that answer: what it pushes upstream is
        handled (voiced) meanwhile.
        """
        await self.serving_upstream(self._finish_reply)

    async def _finish_reply(self) -> None:
        session = self.session
        if session is None or session.closed:
            return
        await self._flush_input(session)
        await self.voicing.end_of_reply()
        watch = self._watch
        if watch.unheard_audio and not self.provider.capabilities.server_vad:
            self.latency.user_stopped()  # the input ended, so did the user's turn
            await session.end_turn()
            watch.turn_ended()

        async def pause() -> None:
            # A server-side turn detector hears the turn end the way it would from a
            # caller: a pause.
            if not session.closed:
                await session.send_audio(self.audio.silence(_END_QUIET))

        with anyio.move_on_after(self.end_timeout):
            if await watch.settled(
                settle=_END_SETTLE, patience=_END_PATIENCE, on_user_speaking=pause
            ):
                return
        log.warning("%s: the input ended and the reply owed did not come; closing", self.name)

    async def on_stop(self) -> None:
        self.tool_calls.cancel()  # nobody is left to hear their answers
        session = self.session
        if session is None:
            return
        try:
            await self._flush_input(session)
        finally:
            await session.close()

    async def _flush_input(self, session: StreamingSession) -> None:
        """Send what the input resampler still holds back (once: it is then empty)."""
        if not session.closed and (tail := self.audio.input_tail()):
            await session.send_audio(tail)

    async def on_cleanup(self) -> None:
        """Close the session if :meth:`on_stop` did not (idempotent)."""
        self.tool_calls.cancel()
        if self.session is not None:
            await self.session.close()

    # -- frames in --------------------------------------------------------------------------

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        session = self.session
        if isinstance(frame, InputAudioFrame) and direction is _DOWN:
            if session is not None and not session.closed:
                pcm = self.audio.to_provider(frame)
                if self._muted:
                    pcm = self.audio.silence_like(pcm)
                await session.send_audio(pcm)
                self._watch.audio_sent(pcm, self.audio.sent_encoding)
            if self.forward_input_audio:
                await self.push_frame(frame, direction)
            return
        if session is not None and not session.closed:
            if isinstance(frame, InputMuteFrame):
                self._muted = frame.muted
                await session.set_input_muted(frame.muted)
            elif isinstance(frame, InterruptionFrame):
                self.voicing.clear()
                self._barged_at = self._responses
                self.tool_calls.cancel(reason="the user interrupted")
                await session.interrupt(None)
            elif isinstance(frame, BotStoppedSpeakingFrame) and frame.interrupted:
                await self._truncate(session, frame.played_ms)
            elif (
                isinstance(frame, UserTurnEndedFrame) and not self.provider.capabilities.server_vad
            ):
                self.latency.user_stopped()
                await session.end_turn()
                self._watch.turn_ended()
            elif isinstance(frame, UserStoppedSpeakingFrame):
                self.latency.user_stopped()
            elif await self.voicing.take(frame, direction):
                return
            elif isinstance(frame, TextFrame) and direction is _DOWN:
                self.context.add_turn("user", frame.text)
                self.latency.user_stopped()
                await session.send_text(frame.text)
                self._watch.turn_ended()
                return
        await self.push_frame(frame, direction)

    async def _speak_line(self, text: str) -> None:
        session = self.session
        if session is None or session.closed:
            self.voicing.clear()
            return
        self._watch.turn_ended()  # first: a graceful end must wait for this line
        await session.speak(text)
