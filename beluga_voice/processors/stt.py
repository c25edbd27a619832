"""The STT processor: user audio in, transcripts out (the head of the cascade branch).

Two ways to know where utterances are:

* ``endpointing="own"`` (default): the processor runs its own VAD endpointing (see
  :class:`~beluga_voice.stt.utterance.UtteranceRecognizer`) and announces the user's
  speech itself: ``UserStartedSpeakingFrame`` (and, with ``interruptions``, an
  ``InterruptionFrame`` so that a reply in progress stops), ``UserStoppedSpeakingFrame``,
  then the final ``TranscriptionFrame`` and a ``UserTurnEndedFrame``.
* ``endpointing="frames"``: a VAD or turn-detection processor upstream decides; the
  processor recognises the audio between its ``UserStartedSpeakingFrame`` (plus a short
  pre-roll) and its ``UserStoppedSpeakingFrame`` / ``UserTurnEndedFrame``.

An embedded engine (:class:`~beluga_voice.stt.base.STTEngine`) recognises in a worker
thread, every call on the recogniser (``close`` included) through one
:class:`~beluga_voice.audio.engine_owner.EngineOwner`, so closing waits for a feed in
flight.  A recognition service (:class:`~beluga_voice.stt.base.AsyncSTTEngine`:
Deepgram, OpenAI) is network I/O, driven on the event loop by a task of the processor's
own (:mod:`beluga_voice.processors.stt_service`): its interim results arrive while the
user speaks, its final one after the turn end was sent.  User audio is passed on
unchanged either way.

A recogniser that fails (an engine error, a dropped connection) costs the utterance in
progress, never the next one: the failure goes upstream as an ``ErrorFrame`` with the
exception's code, once; the stream is reset (or, if it cannot be, replaced by a new
one), and a user turn that was announced is closed with ``UserStoppedSpeakingFrame``.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Literal

import anyio

from ..audio import convert_channels
from ..audio.engine_owner import EngineClosedError, EngineOwner
from ..audio.resample import StreamResampler
from ..frames import (
    Direction,
    Frame,
    InputAudioFrame,
    InterruptionFrame,
    StartFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    UserTurnEndedFrame,
)
from ..pipeline.processor import FrameProcessor
from ..stt.base import AsyncSTTEngine, STTEngine, STTResult, STTStream
from ..stt.utterance import UtteranceEvent, UtteranceRecognizer
from .stt_service import Relay, ServiceDriver

__all__ = ["STTProcessor"]

log = logging.getLogger("beluga_voice.stt")

_FINAL_GRACE = 5.0
"""Seconds an EndFrame waits for final transcripts a service still owes."""

_DOWN = Direction.DOWNSTREAM
_UP = Direction.UPSTREAM


class STTProcessor(FrameProcessor):
    """See the module docstring.  ``interim`` forwards interim transcripts too;
    ``backlog`` bounds the operations queued for a service (see
    :mod:`~beluga_voice.processors.stt_service`)."""

    def __init__(
        self,
        engine: STTEngine | AsyncSTTEngine,
        *,
        endpointing: Literal["own", "frames"] = "own",
        silence_ms: float = 500.0,
        preroll_ms: float = 400.0,
        interim: bool = True,
        interruptions: bool = True,
        language: str | None = None,
        backlog: int = 500,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.engine = engine
        self.endpointing = endpointing
        self.silence_ms = silence_ms
        self.preroll_ms = preroll_ms
        self.interim = interim
        self.interruptions = interruptions
        self.language = language
        self.stream: STTStream | None = None
        self.recognizer: UtteranceRecognizer | None = None
        self._resampler: StreamResampler | None = None
        self._preroll: deque[bytes] = deque(maxlen=max(1, int(preroll_ms // 20)))
        self._listening = False
        self._speaking = False
        """A UserStartedSpeakingFrame went out (own endpointing) and its stop not yet."""
        self._owner: EngineOwner | None = None
        """Owns :attr:`stream` and :attr:`recognizer`: they are only called through it."""
        self.backlog = backlog
        self._driver: ServiceDriver | None = None
        self._relay: Relay | None = None

    async def on_start(self, frame: StartFrame) -> None:
        if isinstance(self.engine, AsyncSTTEngine):
            self._driver = ServiceDriver(self, self.engine, self.backlog)
            self._relay = Relay(self.engine.sample_rate)
            if self.endpointing == "own":
                # Energy VAD costs microseconds per 20 ms: it runs on the loop, no thread.
                self.recognizer = UtteranceRecognizer(
                    self._relay, silence_ms=self.silence_ms, preroll_ms=self.preroll_ms
                )
            self.create_task(self._driver.serve, name=f"{self.name}.service")
            return
        self._owner = EngineOwner(f"{self.name} recogniser", close=self._close_stream)
        await self._owner.run(self._open)

    def _open(self) -> None:
        """Open a stream (and its endpointing).  In a worker thread: it may be slow."""
        assert isinstance(self.engine, STTEngine)
        self.stream = self.engine.open_stream()
        if self.endpointing == "own":
            self.recognizer = UtteranceRecognizer(
                self.stream, silence_ms=self.silence_ms, preroll_ms=self.preroll_ms
            )

    async def on_end(self) -> None:
        """A service still owes final transcripts: wait for them (bounded)."""
        driver = self._driver
        if driver is not None and driver.pending_finals:  # (maybe still connecting)
            with anyio.move_on_after(_FINAL_GRACE):
                await driver.finals_done.wait()

    async def on_stop(self) -> None:
        await self.on_cleanup()

    async def on_cleanup(self) -> None:
        """Close the stream, on every way out (idempotent; waits for a feed in flight).
        A service's connection closes with its task, which the pipeline cancels."""
        self._driver = None
        if self._owner is not None:
            await self._owner.aclose()

    def _close_stream(self) -> None:
        stream, self.stream, self.recognizer = self.stream, None, None
        if stream is not None:
            stream.close()

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if direction is _DOWN and (self.stream is not None or self._driver is not None):
            if isinstance(frame, InputAudioFrame):
                await self.push_frame(frame, direction)  # never hold user audio back
                await self._hear(self._to_engine_rate(frame))
                return
            if self.endpointing == "frames":
                if isinstance(frame, UserStartedSpeakingFrame):
                    await self.push_frame(frame, direction)
                    await self._start_listening()
                    return
                if isinstance(frame, (UserStoppedSpeakingFrame, UserTurnEndedFrame)):
                    await self.push_frame(frame, direction)
                    await self._finish_listening()
                    return
        await self.push_frame(frame, direction)

    def _to_engine_rate(self, frame: InputAudioFrame) -> bytes:
        rs = self._resampler
        if rs is None or rs.in_rate != frame.sample_rate or rs.channels != frame.channels:
            rs = self._resampler = StreamResampler(
                frame.sample_rate, self.engine.sample_rate, frame.channels, quality="MQ"
            )
        pcm = rs.process(frame.audio)
        if frame.channels > 1:
            pcm = convert_channels(pcm, frame.channels, 1)
        return pcm

    async def _hear(self, pcm: bytes) -> None:
        if not pcm:
            return
        if self._driver is not None:
            await self._hear_service(pcm)
            return
        assert self._owner is not None
        if self.recognizer is not None:
            try:
                events = await self._owner.run(self.recognizer.feed, pcm)
            except EngineClosedError:  # stopping: nothing more to recognise
                return
            except Exception as exc:
                await self._recover(exc)
                return
            for event in events:
                await self._on_event(event)
        elif self._listening:
            assert self.stream is not None
            try:
                result = await self._owner.run(self.stream.feed, pcm)
            except EngineClosedError:
                return
            except Exception as exc:
                await self._recover(exc)
                return
            if result is not None:
                await self._transcript(result)
        else:
            self._preroll.append(pcm)

    async def _hear_service(self, pcm: bytes) -> None:
        """Turn audio into operations for the service (see :mod:`.stt_service`)."""
        assert self._driver is not None and self._relay is not None
        events: list[UtteranceEvent] = []
        if self.recognizer is not None:
            events = self.recognizer.feed(pcm)
            ops = self._relay.take()
        elif self._listening:
            ops = [pcm]
        else:
            self._preroll.append(pcm)
            return
        if ops and not self._driver.submit(ops):
            self._driver.drop_queued()
            await self._recover(self._driver.overflow_error())
            self._driver.submit([ServiceDriver.RESET])
            return
        for event in events:
            if event.kind != "transcript":  # the service's transcripts come later
                await self._on_event(event)

    async def _service_result(self, result: STTResult) -> None:
        """A result from the service (called by the driver's task)."""
        await self._transcript(result)
        if result.final and self.endpointing == "own":
            await self.push_frame(UserTurnEndedFrame(), _DOWN)

    async def _service_failed(self, error: Exception, current: bool) -> None:
        """The service's stream failed (called by the driver's task); ``current``: the
        user is still inside the failed utterance."""
        if current:
            await self._recover(error)
        else:  # that utterance was over; the one in progress is fine
            await self.push_exception(error, "recognising")

    async def _recover(self, exc: Exception) -> None:
        """The recogniser failed: report it, drop the utterance, be ready for the next."""
        self._listening = False  # the rest of this utterance is not recognised
        # Taken now: a service's failure is handled in its own task, and by the next
        # await the frame task may have announced a new turn, which is not this one.
        speaking, self._speaking = self._speaking, False
        if self._driver is not None and self.recognizer is not None:
            self.recognizer.reset()
            assert self._relay is not None
            self._relay.take()
        await self.push_exception(exc, "recognising")
        if self._owner is not None:
            try:
                await self._owner.run(self._reset)
            except EngineClosedError:
                return
        if speaking:  # close the turn that was announced (it has no words)
            await self.push_frame(UserStoppedSpeakingFrame(), _DOWN)
            await self.push_frame(UserStoppedSpeakingFrame(), _UP)

    def _reset(self) -> None:
        """Drop the current utterance; replace a stream that cannot even do that."""
        try:
            if self.recognizer is not None:
                self.recognizer.reset()
            elif self.stream is not None:
                self.stream.reset()
        except Exception:
            log.warning("%s: resetting the recogniser failed; opening a new one", self.name)
            old, self.stream, self.recognizer = self.stream, None, None
            try:
                if old is not None:
                    old.close()
            except Exception:  # it is broken: what matters is the new one
                log.debug("%s: closing the broken stream failed", self.name, exc_info=True)
            self._open()

    async def _on_event(self, event: UtteranceEvent) -> None:
        if event.kind == "started":
            self._speaking = True
            await self.push_frame(UserStartedSpeakingFrame(), _DOWN)
            await self.push_frame(UserStartedSpeakingFrame(), _UP)
            if self.interruptions:
                await self.push_frame(InterruptionFrame(), _DOWN)
        elif event.kind == "stopped":
            self._speaking = False
            await self.push_frame(UserStoppedSpeakingFrame(), _DOWN)
            await self.push_frame(UserStoppedSpeakingFrame(), _UP)
        elif event.result is not None:
            await self._transcript(event.result)
            if event.result.final:
                await self.push_frame(UserTurnEndedFrame(), _DOWN)

    async def _transcript(self, result: STTResult) -> None:
        if result.final and not result.text:
            return  # a cough or a door: no words, no turn
        if result.final or self.interim:
            frame = TranscriptionFrame(result.text, final=result.final, language=self.language)
            await self.push_frame(frame, _DOWN)

    async def _start_listening(self) -> None:
        if self._listening:
            return
        self._listening = True
        held = b"".join(self._preroll)
        self._preroll.clear()
        await self._hear(held)

    async def _finish_listening(self) -> None:
        if self._driver is not None and self._listening:
            self._listening = False
            if not self._driver.submit([ServiceDriver.FINALIZE]):
                self._driver.drop_queued()
                await self._recover(self._driver.overflow_error())
            return
        if not self._listening or self.stream is None or self._owner is None:
            return
        self._listening = False
        try:
            result = await self._owner.run(self.stream.finish)
        except EngineClosedError:
            return
        except Exception as exc:
            await self._recover(exc)
            return
        await self._transcript(result)
