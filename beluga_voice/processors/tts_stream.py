"""The streaming half of the TTS processor: one service reply per bot reply.

Used by :class:`~beluga_voice.processors.tts.TTSProcessor` when its engine is a
:class:`~beluga_voice.tts.streaming.StreamingTTS`.  The processor's job queue then holds
text pieces as the agent writes them, :data:`FLUSH` marks at sentence ends and the reply's
end (``ResponseEndFrame`` or :data:`END`).  The worker opens a reply at its first text,
sends each piece at once and flushes at each sentence end, while a pump task turns the
service's audio into ``OutputAudioFrame`` chunks at the output rate, so the first sentence
plays while the agent is still writing the next.  The end of the reply waits for its last
audio; an interruption cancels the whole reply scope at once: the pump stops pushing (the
chunk being pushed is the last) and the reply tells the service to stop.

The reply's :class:`~beluga_voice.tts.alignment.Timeline` outlives it, so that a cut
reply's heard text can be computed when the output reports how much was played.
A failed reply is reported (its code decides what ``Retry``/``Fallback`` do) and the rest
of its text is dropped up to its end; the next reply starts afresh.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel

from ..audio.resample import StreamResampler
from ..errors import S2SError
from ..frames import Direction, Frame, OutputAudioFrame, ResponseEndFrame, ResponseStartFrame
from ..tts.alignment import Timeline
from ..tts.streaming import StreamingTTS, TTSReply

if TYPE_CHECKING:
    from .tts import TTSProcessor

__all__ = ["END", "FLUSH", "ReplyStreamer", "first_error"]

_DOWN = Direction.DOWNSTREAM


class _Mark:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


FLUSH = _Mark("FLUSH")
"""A sentence ended: the service should speak what it holds."""
END = _Mark("END")
"""The reply's text is complete (a SpeakFrame's, or text left at the end of the stream)."""

Job = str | Frame | _Mark


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one failure a group stands for: a service error first (it carries the code
    the wrappers decide on), then any other error, then the group itself (cancellation)."""
    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        exc = stack.pop(0)
        if isinstance(exc, BaseExceptionGroup):
            stack[:0] = list(exc.exceptions)
        else:
            leaves.append(exc)
    for kind in (S2SError, Exception):
        for leaf in leaves:
            if isinstance(leaf, kind):
                return leaf
    return group


class ReplyStreamer:
    """Runs the streaming replies of one processor; see the module docstring."""

    def __init__(self, processor: TTSProcessor, engine: StreamingTTS) -> None:
        self.processor = processor
        self.engine = engine
        self.timeline: Timeline | None = None
        """The current (or last) reply's timeline."""
        self.replies = 0
        self.skipping = False
        """A reply failed: its remaining text is dropped up to its end."""

    def is_end(self, job: Job) -> bool:
        return job is END or isinstance(job, ResponseEndFrame)

    async def run_job(self, job: Job) -> None:
        """One job taken from the queue outside a reply."""
        p = self.processor
        if self.skipping and (isinstance(job, str) or job is FLUSH):
            return
        if self.is_end(job) or isinstance(job, ResponseStartFrame):
            self.skipping = False
        if isinstance(job, str):
            try:
                end = await self._reply(job)
            except Exception as exc:
                self.skipping = True
                await p.push_exception(exc, "speaking a reply")
                return
            if isinstance(end, Frame):
                await p.push_frame(end, _DOWN)
        elif isinstance(job, Frame):
            await p.push_frame(job, _DOWN)

    async def _reply(self, first: str) -> Job | None:
        """Speak one reply from its first text to its end mark; returns the end job (to
        pass on after the audio).  Runs in the processor's job scope: an interruption
        cancels it, and the reply is cancelled on the service too."""
        p = self.processor
        self.replies += 1
        async with self.engine.open_reply() as reply:
            self.timeline = reply.timeline
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._pump, reply)
                    job: Job | None = first
                    while job is not None and not self.is_end(job):
                        if isinstance(job, str):
                            await reply.send(job)
                        elif job is FLUSH:
                            await reply.flush()
                        elif isinstance(job, Frame):
                            await p.push_frame(job, _DOWN)
                        job = await p._next_job()
                    await reply.end()
                return job
            except BaseException as exc:
                await reply.cancel()
                if isinstance(exc, BaseExceptionGroup):
                    raise first_error(exc) from None  # the send and the pump met one failure
                raise

    async def _pump(self, reply: TTSReply) -> None:
        p = self.processor
        rate, out = self.engine.sample_rate, p.output_rate
        resampler = StreamResampler(rate, out) if rate != out else None
        step = out * p.chunk_ms // 1000 * 2
        pending = b""
        async for pcm in reply.audio():
            pending += resampler.process(pcm) if resampler is not None else pcm
            full = len(pending) - len(pending) % step
            for i in range(0, full, step):
                # A hand-off downstream and a buffered message need not suspend: yield
                # here, so an interruption is seen (and cancels this) within one chunk.
                await anyio.lowlevel.checkpoint()
                await p.push_frame(OutputAudioFrame(pending[i : i + step], out), _DOWN)
            pending = pending[full:]
        if resampler is not None:
            pending += resampler.flush()
        if pending:
            await p.push_frame(OutputAudioFrame(pending, out), _DOWN)
