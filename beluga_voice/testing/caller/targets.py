"""What a scripted caller can call: a pipeline in this process, or a server over WebSocket.

Each target turns the caller's microphone audio into the target's input and the
target's output into :class:`Heard` items (reply audio, transcripts, reply start and
end, interruptions, errors), pushed to the caller's callback as they happen.

* :class:`PipelineTarget`: a :class:`~beluga_voice.pipeline.PipelineTask` (run by the
  target when not yet running) or a :class:`~beluga_voice.session.VoiceSession` (started
  when not yet started).  The caller acts as the output transport: when it stops
  playing a reply because the user barged in, it sends the interrupted
  ``BotStoppedSpeakingFrame`` upstream with the milliseconds played, as a loudspeaker
  transport would, so the provider truncates its memory of the reply.
* :class:`WebSocketTarget`: a server speaking the default protocol (``beluga-voice
  serve``, or a deployed agent), through :class:`WebSocketClient`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc
from websockets.exceptions import ConnectionClosed

from ...frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Direction,
    ErrorFrame,
    Frame,
    InputAudioFrame,
    InterruptionFrame,
    OutputAudioFrame,
    ResponseEndFrame,
    ResponseStartFrame,
    StartFrame,
    TranscriptionFrame,
    UserTurnEndedFrame,
)
from ...pipeline import PipelineTask

__all__ = ["Heard", "PipelineTarget", "Target", "WebSocketTarget", "heard_from_frame"]


@dataclass(slots=True)
class Heard:
    """One thing the caller heard: ``kind`` is ``audio``, ``transcript``, ``started``,
    ``done``, ``interrupted``, ``error`` or ``ended``."""

    kind: str
    audio: bytes = b""
    sample_rate: int = 0
    role: str = ""
    text: str = ""
    final: bool = True
    interrupted: bool = False
    fatal: bool = False
    code: str = ""
    at_ms: float = 0.0
    """When the caller heard it, on the caller's clock."""


Emit = Callable[[Heard], None]


class Target:
    """Base of targets.  ``input_rate`` is the sample rate the caller must speak at."""

    input_rate: int = 16000
    realtime_only: bool = False
    """True when the target runs on its own wall clock (a remote server)."""

    async def open(self, stack: AsyncExitStack, tg: anyio.abc.TaskGroup, emit: Emit) -> None:
        raise NotImplementedError

    async def send_audio(self, pcm: bytes) -> None:
        raise NotImplementedError

    async def end_turn(self) -> None:
        """The caller finished a line (for agents without a voice detector of their own)."""

    async def stopped_playing(self, played_ms: float) -> None:
        """The caller's loudspeaker stopped a reply early, after ``played_ms``."""

    async def hang_up(self) -> None:
        raise NotImplementedError


class PipelineTarget(Target):
    """A pipeline in this process; see the module docstring."""

    def __init__(self, task: PipelineTask | None = None, session: Any = None) -> None:
        self.task = task
        self.session = session
        self._owned = False
        self._emit: Emit | None = None
        self._previous: Any = None
        self._errors_seen = 0
        self._ended = anyio.Event()

    async def open(self, stack: AsyncExitStack, tg: anyio.abc.TaskGroup, emit: Emit) -> None:
        self._emit = emit
        if self.session is not None:
            if self.session.task is None:
                await self.session.start()
                self._owned = True
                stack.push_async_callback(self.session.stop)
            self.task = self.session.task
            self.input_rate = int(self.session.input_sample_rate)
        task = self.task
        assert task is not None
        self._previous = task.on_output
        task.on_output = self._on_output
        stack.callback(setattr, task, "on_output", self._previous)
        if self.session is None:
            self.input_rate = task.start_frame.input_sample_rate
            self._owned = True
            tg.start_soon(self._run, task)

    async def _run(self, task: PipelineTask) -> None:
        try:
            await task.run()
        finally:
            self._ended.set()

    async def _on_output(self, frame: Frame) -> None:
        assert self._emit is not None
        heard = heard_from_frame(frame)
        if heard is not None:
            self._emit(heard)
        if self._previous is not None:
            await self._previous(frame)

    def poll(self) -> None:
        """Report errors the pipeline recorded since the last look, and its end."""
        task, emit = self.task, self._emit
        if task is None or emit is None:
            return
        errors: list[ErrorFrame] = task.errors
        for err in errors[self._errors_seen :]:
            emit(Heard("error", text=err.message, fatal=err.fatal, code=err.code))
        self._errors_seen = len(errors)
        if task.finished:
            emit(Heard("ended"))

    async def send_audio(self, pcm: bytes) -> None:
        assert self.task is not None
        if not self.task.finished:
            await self.task.queue_frame(InputAudioFrame(pcm, self.input_rate))

    async def end_turn(self) -> None:
        assert self.task is not None
        if not self.task.finished:
            await self.task.queue_frame(UserTurnEndedFrame())

    async def stopped_playing(self, played_ms: float) -> None:
        assert self.task is not None
        if not self.task.finished:
            frame = BotStoppedSpeakingFrame(played_ms=played_ms, interrupted=True)
            await self.task.queue_frame(frame, Direction.UPSTREAM)

    async def hang_up(self) -> None:
        task = self.task
        if task is None or not self._owned:
            return
        if self.session is not None:
            await self.session.stop()
            return
        if not task.finished:
            await task.stop_when_done()
        with anyio.move_on_after(task.stop_timeout * 2):
            await self._ended.wait()


class WebSocketTarget(Target):
    """A server speaking the default WebSocket protocol, at ``url``."""

    realtime_only = True

    def __init__(self, url: str, *, token: str | None = None, end_timeout: float = 2.0) -> None:
        self.url = url
        self.token = token
        self.end_timeout = end_timeout
        self.client: Any = None
        self._ended = anyio.Event()

    async def open(self, stack: AsyncExitStack, tg: anyio.abc.TaskGroup, emit: Emit) -> None:
        from ...transports.websocket.client import WebSocketClient

        self.client = await stack.enter_async_context(
            WebSocketClient.connect(self.url, token=self.token)
        )
        self.input_rate = self.client.input_sample_rate
        tg.start_soon(self._receive, emit)

    async def _receive(self, emit: Emit) -> None:
        from ...transports.websocket.client import event_to_frame

        rate = self.client.output_sample_rate
        try:
            async for item in self.client:
                if isinstance(item, bytes):
                    emit(Heard("audio", audio=item, sample_rate=rate))
                elif item.get("type") == "error":
                    code = str(item.get("code", "server_error"))
                    fatal = bool(item.get("fatal", False))
                    emit(Heard("error", text=str(item.get("message", "")), fatal=fatal, code=code))
                elif item.get("type") == "session.ended":
                    break
                else:
                    frame = event_to_frame(item)
                    heard = heard_from_frame(frame) if frame is not None else None
                    if heard is not None:
                        emit(heard)
        finally:
            self._ended.set()
            emit(Heard("ended"))

    async def send_audio(self, pcm: bytes) -> None:
        if not self._ended.is_set():
            with contextlib.suppress(ConnectionClosed):  # reported as "ended" by _receive
                await self.client.send_audio(pcm)

    async def hang_up(self) -> None:
        if self.client is None or self._ended.is_set():
            return
        with contextlib.suppress(ConnectionClosed):
            await self.client.end()
        with anyio.move_on_after(self.end_timeout):
            await self._ended.wait()


def heard_from_frame(frame: Frame) -> Heard | None:
    """What a frame leaving the agent means to the caller (None: nothing).

    A pipeline says a reply starts and ends with response frames; a server over
    WebSocket with the bot's speaking events (``event_to_frame`` turns those into frames).
    """
    if isinstance(frame, OutputAudioFrame):
        return Heard("audio", audio=frame.audio, sample_rate=frame.sample_rate)
    if isinstance(frame, TranscriptionFrame):
        return Heard("transcript", role=frame.role, text=frame.text, final=frame.final)
    if isinstance(frame, InterruptionFrame):
        return Heard("interrupted")
    if isinstance(frame, (ResponseStartFrame, BotStartedSpeakingFrame)):
        return Heard("started")
    if isinstance(frame, (ResponseEndFrame, BotStoppedSpeakingFrame)):
        return Heard("done", interrupted=frame.interrupted)
    return None


def start_frame_for(provider: Any) -> StartFrame:
    """The start frame that lets a provider's own rates through untouched (no resampler,
    so the audio the caller speaks reaches the provider byte for byte)."""
    caps = provider.capabilities
    return StartFrame(
        input_sample_rate=caps.input_sample_rates[0], output_sample_rate=caps.output_sample_rate
    )
