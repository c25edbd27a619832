"""VoiceSession: the high-level facade over a pipeline.

Most users want "a conversation" rather than a graph: give a session an S2S provider (or an
STT + TTS pair and an agent), optionally a transport, and feed it audio.  Under the hood it
builds the pipeline ``input -> provider processor (or STT -> agent -> TTS) -> output`` and
runs it in a task group the session owns.

Use it as an async context manager (``async with VoiceSession(...) as s:``).  The older
``start()`` / ``stop()`` pair works too, called from the same task.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AsyncExitStack
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import anyio

from .agents.base import Agent
from .agents.tools import ToolRegistry
from .conversation import ConversationContext, new_conversation_context
from .frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Direction,
    ErrorFrame,
    Frame,
    InputAudioFrame,
    OutputAudioFrame,
    ResponseEndFrame,
    SpeakFrame,
    StartFrame,
    TextFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    UserTurnEndedFrame,
)
from .pipeline import FrameProcessor, Node, PipelineTask
from .providers.base import S2SProvider
from .providers.config import S2SConfig
from .providers.errors import ErrorCode, S2SError

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider

    from .pipeline.observer import FrameObserver
    from .stt.base import STTEngine
    from .tts.base import TTSEngine
    from .tts.streaming import StreamingTTS

__all__ = ["SessionState", "VoiceSession"]

Callback = Callable[..., Awaitable[None] | None]


class SessionState(enum.StrEnum):
    IDLE = "idle"
    LISTENING = "listening"
    PROCESSING = "processing"
    SPEAKING = "speaking"


async def _call(callback: Callback | None, *args: Any) -> None:
    if callback is None:
        return
    result = callback(*args)
    if inspect.isawaitable(result):
        await result


class _StateTracker(FrameProcessor):
    """Watches frames pass to derive the session state and feed the user's callbacks."""

    def __init__(self, session: VoiceSession) -> None:
        super().__init__(name="VoiceSession.state")
        self.session = session

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        s = self.session
        if isinstance(frame, OutputAudioFrame):
            await s._set_state(SessionState.SPEAKING)
            await _call(s.on_audio, frame.audio)
        elif isinstance(frame, BotStartedSpeakingFrame):
            await s._set_state(SessionState.SPEAKING)
        elif isinstance(frame, (UserStoppedSpeakingFrame, UserTurnEndedFrame)):
            await s._set_state(SessionState.PROCESSING)
        elif isinstance(frame, ResponseEndFrame):
            s._reply_finished()
            await s._set_state(SessionState.LISTENING)
        elif isinstance(frame, (UserStartedSpeakingFrame, BotStoppedSpeakingFrame)):
            await s._set_state(SessionState.LISTENING)
        elif isinstance(frame, TranscriptionFrame):
            if frame.final and frame.role == "assistant":
                s._reply_text.append(frame.text)
            await _call(s.on_transcript, frame)
        await self.push_frame(frame, direction)


def _engine(kind: str, engine: Any) -> Any:
    """An engine given by name, built from its catalogue (a bad name or a missing key is
    an ``invalid_config`` / ``authentication_error`` at construction, not mid-call)."""
    if not isinstance(engine, str):
        return engine
    from .services import UnknownService, lookup
    from .stt.registry import STT_SERVICES
    from .tts.registry import TTS_SERVICES

    try:
        return lookup(STT_SERVICES if kind == "stt" else TTS_SERVICES, engine).make()
    except UnknownService as exc:
        raise S2SError("VoiceSession", ErrorCode.INVALID_CONFIG, str(exc)) from None


class VoiceSession:
    """A voice conversation.  See the module docstring.

    Exactly one of ``s2s_provider`` or the ``stt`` + ``tts`` pair must be given (giving
    both is an ``invalid_config`` error naming the conflict).  ``stt`` and ``tts`` are
    engines or the names of :data:`~beluga_voice.stt.registry.STT_SERVICES` /
    :data:`~beluga_voice.tts.registry.TTS_SERVICES` entries (``"deepgram"``,
    ``"elevenlabs"``), built with their defaults and keys from the environment.  ``agent`` answers in the
    cascade, and in the S2S branch when ``reasoning_mode`` is ``external``.
    ``transport`` supplies the input and output halves (objects with ``input()`` and
    ``output()`` returning processors); without one, feed audio with
    :meth:`process_audio` and receive it through ``on_audio``.

    With ``resilient=True`` (the default) the provider is wrapped as the config says
    (:func:`~beluga_voice.providers.wrap.wrap_provider`): silent retry, fallback to
    ``config.fallback_providers``, metrics and tracing; a provider that is already
    wrapped (``new_provider`` wraps by default) is used as it is.  With
    ``config.enable_metrics`` the pipeline's per-frame metrics are attached too (on
    ``meter_provider``, default the global one); ``observers`` adds frame observers.

    ``replay_cut_reply_under`` (default ``config.replay_cut_reply_under``, 1 s): a reply
    cut by a failure before the user heard this many seconds of it is answered again in
    full by the replacement session; past it, ``on_error`` gets a ``reply_cut`` error.
    """

    def __init__(
        self,
        *,
        s2s_provider: S2SProvider | None = None,
        stt: STTEngine | str | None = None,
        tts: TTSEngine | StreamingTTS | str | None = None,
        agent: Agent | None = None,
        transport: Any = None,
        config: S2SConfig | None = None,
        context: ConversationContext | None = None,
        tools: ToolRegistry | None = None,
        input_sample_rate: int = 16000,
        output_sample_rate: int | None = None,
        on_state: Callback | None = None,
        on_audio: Callback | None = None,
        on_transcript: Callback | None = None,
        on_error: Callback | None = None,
        resilient: bool = True,
        observers: Iterable[FrameObserver] = (),
        meter_provider: MeterProvider | None = None,
        replay_cut_reply_under: float | None = None,
    ) -> None:
        if s2s_provider is not None and (stt is not None or tts is not None):
            raise S2SError(
                "VoiceSession",
                ErrorCode.INVALID_CONFIG,
                "cannot use both an S2S provider and an STT + TTS pair: choose one",
            )
        if s2s_provider is None and (stt is None or tts is None):
            missing = "tts" if stt is not None else "stt" if tts is not None else "s2s_provider"
            raise S2SError(
                "VoiceSession",
                ErrorCode.INVALID_CONFIG,
                f"need an S2S provider or both STT and TTS (missing {missing})",
            )
        self.config = config or (s2s_provider.config if s2s_provider else S2SConfig())
        if s2s_provider is None and agent is None:
            raise S2SError(
                "VoiceSession", ErrorCode.INVALID_CONFIG, "the STT + TTS branch needs an agent"
            )
        if replay_cut_reply_under is not None:
            self.config = self.config.model_copy(
                update={"replay_cut_reply_under": replay_cut_reply_under}
            )
        if s2s_provider is not None and resilient:
            from .providers.wrap import set_replay_cut, wrap_provider

            s2s_provider = wrap_provider(s2s_provider, self.config)
            set_replay_cut(s2s_provider, self.config.replay_cut_reply_under)
        self.provider = s2s_provider
        self.stt, self.tts = _engine("stt", stt), _engine("tts", tts)
        self.agent = agent
        self.transport = transport
        self.context = context or new_conversation_context()
        self.tools = tools or ToolRegistry()
        self.input_sample_rate = input_sample_rate
        self.output_sample_rate = output_sample_rate or self.config.sample_rate
        self.on_state, self.on_audio = on_state, on_audio
        self.on_transcript, self.on_error = on_transcript, on_error
        self.observers = tuple(observers)
        self.meter_provider = meter_provider
        self.state = SessionState.IDLE
        self.brain: FrameProcessor | None = None
        self.task: PipelineTask | None = None
        self._stack: AsyncExitStack | None = None
        # Finished replies, as the assistant's words, until wait_for_reply() takes them.
        self._replies: list[str] = []
        self._reply_text: list[str] = []
        self._reply_done = anyio.Event()

    # -- building -------------------------------------------------------------------------

    def _build(self) -> list[Node]:
        nodes: list[Node] = []
        if self.transport is not None:
            nodes.append(self.transport.input())
        nodes.extend(self.processors())
        nodes.append(_StateTracker(self))
        if self.transport is not None:
            nodes.append(self.transport.output())
        return nodes

    def processors(self) -> list[FrameProcessor]:
        """The conversation's processors between input and output: the S2S processor, or
        STT -> agent -> TTS (what the CLI's ``run --stt/--tts`` runs a file through)."""
        if self.provider is None:
            return self._cascade()
        from .processors.s2s import S2SProcessor

        mode = self.config.reasoning_mode
        self.brain = S2SProcessor(
            self.provider,
            context=self.context,
            tools=self.tools,
            agent=self.agent if mode == "external" else None,
            reasoning_mode=mode,
            forward_input_audio=self.transport is not None,
        )
        return [self.brain]

    def _cascade(self) -> list[FrameProcessor]:
        from .processors.agent import AgentProcessor
        from .processors.stt import STTProcessor
        from .processors.tts import TTSProcessor

        stt, tts, agent = self.stt, self.tts, self.agent
        if stt is None or tts is None or agent is None:
            # __init__ refuses such a session: only a later change of the attributes gets here.
            raise S2SError(
                "VoiceSession",
                ErrorCode.INVALID_CONFIG,
                "the STT + TTS branch needs stt, tts and an agent",
            )
        return [
            STTProcessor(stt),
            AgentProcessor(agent, context=self.context),
            TTSProcessor(tts),
        ]

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Build and start the pipeline; returns once it is running."""
        if self._stack is not None:
            raise S2SError("start", ErrorCode.INVALID_REQUEST, "session already started")
        self.task = PipelineTask(
            self._build(),
            start_frame=StartFrame(
                input_sample_rate=self.input_sample_rate,
                output_sample_rate=self.output_sample_rate,
            ),
            on_error=self._error,
            observers=self.observers,
            metrics=self.config.enable_metrics,
            meter_provider=self.meter_provider,
        )
        stack = AsyncExitStack()
        tg = await stack.enter_async_context(anyio.create_task_group())
        tg.start_soon(self._run, self.task)
        self._stack = stack
        await self._set_state(SessionState.LISTENING)

    async def _run(self, task: PipelineTask) -> None:
        try:
            await task.run()
        finally:
            self._reply_done.set()  # wake wait_for_reply(): no reply will come now

    async def stop(self) -> None:
        """Finish gracefully: queued audio is processed, then everything shuts down."""
        if self._stack is None or self.task is None:
            return
        stack, self._stack = self._stack, None
        try:
            if not self.task.finished:
                await self.task.stop_when_done()
        finally:
            await stack.aclose()
            await self._set_state(SessionState.IDLE)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None and self.task is not None:
            await self.task.cancel()
        await self.stop()

    # -- talking --------------------------------------------------------------------------

    def _running_task(self, op: str) -> PipelineTask:
        if self.task is None or self._stack is None or self.task.finished:
            raise S2SError(op, ErrorCode.STREAM_CLOSED, "session is not running")
        return self.task

    async def process_audio(self, audio: bytes, sample_rate: int | None = None) -> None:
        """Feed user audio (PCM16 mono at ``sample_rate``, default ``input_sample_rate``)."""
        task = self._running_task("process_audio")
        try:
            frame = InputAudioFrame(bytes(audio), sample_rate or self.input_sample_rate)
        except ValueError as exc:
            raise S2SError("process_audio", ErrorCode.INVALID_AUDIO_FORMAT, str(exc)) from None
        await task.queue_frame(frame)

    async def send_text(self, text: str) -> None:
        """A typed user message."""
        await self._running_task("send_text").queue_frame(TextFrame(text))

    async def say(self, text: str) -> None:
        """Make the bot say ``text`` verbatim."""
        await self._running_task("say").queue_frame(SpeakFrame(text))

    async def end_turn(self) -> None:
        """The user finished speaking (when no voice detector decides it)."""
        await self._running_task("end_turn").queue_frame(UserTurnEndedFrame())

    async def wait_for_reply(self, timeout: float = 30.0) -> str:
        """Wait for the bot's next reply to finish; return what it said (its transcript).

        Replies are taken in order: a reply that finished before the call is returned at
        once, so ``await session.say(...)`` then ``await session.wait_for_reply()`` never
        misses a fast reply.  Its audio has reached ``on_audio`` (or the transport) by then.
        Raises ``TimeoutError`` after ``timeout`` seconds, and an ``S2SError`` (code
        ``stream_closed``) if the session ends first.
        """
        with anyio.fail_after(timeout):
            while not self._replies:
                self._running_task("wait_for_reply")
                if self._reply_done.is_set():
                    self._reply_done = anyio.Event()
                await self._reply_done.wait()  # set by a finished reply or the end of the run
        return self._replies.pop(0)

    def _reply_finished(self) -> None:
        self._replies.append(" ".join(self._reply_text))
        self._reply_text.clear()
        self._reply_done.set()

    @property
    def errors(self) -> list[ErrorFrame]:
        return self.task.errors if self.task is not None else []

    async def _set_state(self, state: SessionState) -> None:
        if state is not self.state:
            self.state = state
            await _call(self.on_state, state)

    async def _error(self, frame: ErrorFrame) -> None:
        await _call(self.on_error, frame)
