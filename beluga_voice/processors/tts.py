"""The TTS processor: reply text in, bot audio out, sentence by sentence.

``TextFrame`` pieces (an agent's streamed reply) are aggregated into sentences; each
sentence is synthesised in a worker thread as soon as it is complete, while later text
keeps arriving, and goes downstream as ``OutputAudioFrame`` chunks at the pipeline's output
rate.  ``SpeakFrame`` text is spoken verbatim (after anything pending).  A
``ResponseEndFrame`` speaks the unfinished last sentence and is passed on after the audio.

A streaming voice (:class:`~beluga_voice.tts.streaming.StreamingTTS`: ElevenLabs, Cartesia,
OpenAI) gets the text pieces themselves as they come, with a flush at each sentence end,
and its audio plays while the reply is still being written (see :mod:`.tts_stream`).

Synthesis runs in a job queue owned by a background task, so the processor keeps reading
its inbox: an ``InterruptionFrame`` drops the queued sentences, the pending text and the
sentence being synthesised at once.  At the end of the stream the queue is spoken out
before the ``EndFrame`` passes on; a ``CancelFrame`` drops it instead.

A sentence that fails to synthesise (an engine error, a dropped connection) is reported
upstream as an ``ErrorFrame`` with the exception's code and skipped: the worker goes on
with the next sentence, so one failure never silences the turns after it.  Should the
worker itself end (a bug), the engine reports that too, and the next sentence starts a
new worker.

Barge-in truncation: the processor remembers the sentences of the current reply and their
audio length (a streaming voice: its reply's timeline, exact where the service aligns
text to audio); when the output transport reports the reply cut short (an interrupted
``BotStoppedSpeakingFrame`` with ``played_ms``, travelling upstream) it sends upstream an
assistant ``TranscriptionFrame`` with the words actually heard, which the
:class:`~beluga_voice.processors.agent.AgentProcessor` writes into the history.
"""

from __future__ import annotations

from collections import deque

import anyio

from ..audio.resample import StreamResampler
from ..frames import (
    BotStoppedSpeakingFrame,
    Direction,
    Frame,
    FrameKind,
    InterruptionFrame,
    OutputAudioFrame,
    ResponseEndFrame,
    ResponseStartFrame,
    SpeakFrame,
    StartFrame,
    TextFrame,
    TranscriptionFrame,
)
from ..pipeline.processor import FrameProcessor
from ..tts.base import TTSEngine
from ..tts.sentences import SentenceAggregator, heard_text
from ..tts.streaming import StreamingTTS
from .tts_stream import END, FLUSH, Job, ReplyStreamer

__all__ = ["TTSProcessor"]

_DOWN = Direction.DOWNSTREAM
MAX_JOBS = 64
"""Sentences (and frames behind them) a TTS processor queues before its producer waits."""


class TTSProcessor(FrameProcessor):
    """See the module docstring.  ``aggregate=False`` speaks every TextFrame as it comes
    (for producers that already send whole sentences); ``chunk_ms`` sizes the audio frames."""

    def __init__(
        self,
        engine: TTSEngine | StreamingTTS,
        *,
        aggregate: bool = True,
        chunk_ms: int = 20,
        max_sentence_chars: int = 240,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if chunk_ms <= 0:
            raise ValueError("chunk_ms must be positive")
        self.engine = engine
        self.aggregate = aggregate
        self.chunk_ms = chunk_ms
        self.aggregator = SentenceAggregator(max_sentence_chars)
        self.output_rate = engine.sample_rate
        self.sentences_spoken = 0
        self.spoken: list[tuple[str, float]] = []
        """The current reply's sentences with their audio length in ms."""
        self.streamer = ReplyStreamer(self, engine) if isinstance(engine, StreamingTTS) else None
        self._jobs: deque[Job] = deque()
        """Sentences to speak and frames to pass on behind them; at most
        :data:`MAX_JOBS` (backpressure on the producer beyond)."""
        self._taken = anyio.Event()
        self._wake = anyio.Event()
        self._idle = anyio.Event()
        self._idle.set()
        self._job_scope: anyio.CancelScope | None = None
        self._working = False
        """A worker task is running (it takes the jobs)."""

    async def on_start(self, frame: StartFrame) -> None:
        self.output_rate = frame.output_sample_rate
        if self.streamer is not None:
            self.streamer.skipping = False  # (re)started: nothing of a failed reply is left
        self._start_worker()

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if direction is not _DOWN:
            await self.push_frame(frame, direction)
            if isinstance(frame, BotStoppedSpeakingFrame) and frame.interrupted:
                heard = self._heard(frame.played_ms)
                if heard is not None:
                    await self.push_frame(TranscriptionFrame(heard, role="assistant"), direction)
            return
        if len(self._jobs) >= MAX_JOBS and frame.kind is not FrameKind.SYSTEM:
            await self._make_room()
        if isinstance(frame, ResponseStartFrame):
            self.spoken = []
            if self.streamer is not None:
                self.streamer.timeline = None
                if not self._jobs:
                    self.streamer.skipping = False  # a new reply: speak it (else: see run_job)
        if isinstance(frame, TextFrame) and self.streamer is not None:
            self._queue(frame.text, raw=True)  # the service hears the words as they come
            if not self.aggregate or self.aggregator.push(frame.text):
                self._queue(FLUSH)  # a sentence ended in this piece
        elif isinstance(frame, SpeakFrame) and self.streamer is not None:
            self._flush_text()
            for job in (frame.text, FLUSH, END):
                self._queue(job)
        elif isinstance(frame, TextFrame):
            if self.aggregate:
                for sentence in self.aggregator.push(frame.text):
                    self._queue(sentence)
            else:
                self._queue(frame.text)
        elif isinstance(frame, SpeakFrame):
            self._flush_text()
            self._queue(frame.text)
        elif isinstance(frame, ResponseEndFrame):
            self._flush_text()
            self._queue(frame)
        elif isinstance(frame, InterruptionFrame):
            self._drop_all()
            await self.push_frame(frame, direction)
        elif frame.kind is FrameKind.SYSTEM or frame.uninterruptible or not self._jobs:
            await self.push_frame(frame, direction)  # system frames overtake; End waits above
        else:
            self._queue(frame)  # keep data in order behind the audio still to come

    async def on_stop(self) -> None:
        """Speak out what is queued before the end passes (bounded by the stop deadline);
        on a cancel, drop it."""
        if self.cancelled:
            self._drop_all()
            return
        self._flush_text()
        if self.streamer is not None:
            self._queue(END)  # a reply still open ends with the stream
        if self._jobs and not self._working:
            self._start_worker()
        if self._working and not self._idle.is_set():
            await self._idle.wait()

    # -- the job queue --------------------------------------------------------------------

    async def _make_room(self) -> None:
        """Backpressure: wait while the queue is full, unless a system frame (an
        interruption, which empties it) is waiting to be handled."""
        while len(self._jobs) >= MAX_JOBS and self._working and not self.system_frames_waiting:
            self._taken = taken = anyio.Event()
            with anyio.move_on_after(0.05):  # re-check for an interruption now and then
                await taken.wait()

    def _heard(self, played_ms: float) -> str | None:
        """What the listener heard of the reply cut after ``played_ms`` (None: no reply)."""
        timeline = self.streamer.timeline if self.streamer is not None else None
        if timeline is not None and len(timeline):
            return timeline.heard(played_ms)
        return heard_text(self.spoken, played_ms) if self.spoken else None

    def _queue(self, job: Job, *, raw: bool = False) -> None:
        if isinstance(job, str) and not (job if raw else job.strip()):
            return
        self._jobs.append(job)
        self._idle = anyio.Event() if self._idle.is_set() else self._idle
        self._wake.set()
        if not self._working and self.in_run:
            self._start_worker()

    def _start_worker(self) -> None:
        self._working = True
        if self._jobs and self._idle.is_set():
            self._idle = anyio.Event()
        self.create_task(self._worker, name=f"{self.name}.worker")

    def _flush_text(self) -> None:
        rest = self.aggregator.flush()
        if rest and self.streamer is None:
            self._queue(rest)
        # (a streaming voice has had that text already; the end of its reply speaks it)

    async def _next_job(self) -> Job:
        """The next job, waiting for one (a streaming reply waits for the agent's text)."""
        while not self._jobs:
            self._wake = anyio.Event()
            await self._wake.wait()
        job = self._jobs.popleft()
        self._taken.set()
        return job

    def _drop_all(self) -> None:
        self.aggregator.clear()
        self._jobs.clear()
        if self._job_scope is not None:
            self._job_scope.cancel()

    async def _worker(self) -> None:
        try:
            while True:
                if not self._jobs:
                    self._idle.set()
                    self._wake = anyio.Event()
                    await self._wake.wait()
                    continue
                job = self._jobs.popleft()
                self._taken.set()
                if self.streamer is not None:
                    with anyio.CancelScope() as scope:
                        self._job_scope = scope
                        await self.streamer.run_job(job)
                    self._job_scope = None
                elif isinstance(job, str):
                    with anyio.CancelScope() as scope:
                        self._job_scope = scope
                        try:
                            await self._speak(job)
                        except Exception as exc:  # this sentence is lost, not the next ones
                            await self.push_exception(exc, "synthesising a sentence")
                    self._job_scope = None
                elif isinstance(job, Frame):
                    await self.push_frame(job, _DOWN)
        finally:  # nothing may wait for a worker that is gone
            self._working = False
            self._idle.set()

    async def _speak(self, sentence: str) -> None:
        assert isinstance(self.engine, TTSEngine)
        audio = await self.engine.synthesize_async(sentence)
        rate = self.engine.sample_rate
        if audio and rate != self.output_rate:
            # One sentence at a time, start to end: the stream's flush returns the
            # filter's tail, so the output equals a one-shot resampling of the sentence.
            resampler = StreamResampler(rate, self.output_rate)
            audio = resampler.process(audio) + resampler.flush()
        self.sentences_spoken += 1
        self.spoken.append((sentence, 1000.0 * len(audio) / (2 * self.output_rate)))
        step = self.output_rate * self.chunk_ms // 1000 * 2
        for i in range(0, len(audio), step):
            await self.push_frame(OutputAudioFrame(audio[i : i + step], self.output_rate), _DOWN)
