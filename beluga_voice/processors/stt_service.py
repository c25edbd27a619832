"""How :class:`~beluga_voice.processors.stt.STTProcessor` drives a recognition service.

A service (:class:`~beluga_voice.stt.base.AsyncSTTEngine`) is network I/O, so it is
driven on the event loop, not in a worker thread, and never from the processor's own
frame handling: the processor turns frames into *operations* (audio of the utterance,
finalize, reset) put on a bounded queue, and one task of its own, :meth:`serve`, keeps a
connection open, sends the operations in order and turns the service's results back
into frames.  So a slow network never holds user audio back in the pipeline.

The queue holds ``backlog`` operations (about 20 ms of audio each); when the service
falls that far behind (a connection that takes long to open), the utterance is dropped
and reported (``stream_error``) rather than buffered without bound.

A stream that fails (see :mod:`beluga_voice.stt.wire`: a drop that could not be healed
with the utterance replayed, an auth error) costs the utterance it was recognising: the
processor reports it, the rest of that utterance's queued audio is dropped (later
utterances stay queued for a new connection, opened at once), and if the user is still
speaking it, the announced turn is closed; otherwise the next audio opens a new
connection.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

import anyio

from ..errors import ErrorCode, S2SError
from ..stt.base import AsyncSTTEngine, AsyncSTTStream, STTResult, STTStream

if TYPE_CHECKING:
    from .stt import STTProcessor

__all__ = ["Relay", "ServiceDriver"]


class _Op(enum.Enum):
    FINALIZE = "finalize"
    RESET = "reset"


Op = bytes | _Op


class Relay(STTStream):
    """Stands in for a recogniser under the processor's own endpointing
    (:class:`~beluga_voice.stt.utterance.UtteranceRecognizer`): it records what the
    endpointing asks for, for the driver to send; the final result comes later, from the
    service."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.ops: list[Op] = []

    def feed(self, pcm: bytes) -> STTResult | None:
        if pcm:
            self.ops.append(pcm)
        return None

    def finish(self) -> STTResult:
        self.ops.append(_Op.FINALIZE)
        return STTResult("", final=True)

    def reset(self) -> None:
        self.ops.append(_Op.RESET)

    def take(self) -> list[Op]:
        ops, self.ops = self.ops, []
        return ops


class ServiceDriver:
    """See the module docstring.  ``processor`` receives the results and failures."""

    FINALIZE = _Op.FINALIZE
    RESET = _Op.RESET

    def __init__(self, processor: STTProcessor, engine: AsyncSTTEngine, backlog: int) -> None:
        self.processor = processor
        self.engine = engine
        self._send, self._recv = anyio.create_memory_object_stream[Op](backlog)
        self._wanted = anyio.Event()
        self._wanted.set()  # connect at once: the first utterance should not wait for it
        self.pending_finals = 0
        """Finalizes sent whose final result has not come yet."""
        self.finals_done = anyio.Event()
        self.finals_done.set()
        self._in_utterance = False
        """The last operation sent was audio: an utterance is open on the service."""

    def submit(self, ops: list[Op]) -> bool:
        """Queue operations; False if the backlog is full (the caller drops the utterance)."""
        for op in ops:
            try:
                self._send.send_nowait(op)
            except anyio.WouldBlock:
                return False
            if op is _Op.FINALIZE:
                self.pending_finals += 1
                self.finals_done = anyio.Event()
        self._wanted.set()
        return True

    def overflow_error(self) -> S2SError:
        return S2SError(
            "send_audio",
            ErrorCode.STREAM_ERROR,
            f"{self.engine.name}: the recogniser fell behind; the utterance was dropped",
        )

    def _drain(self) -> list[Op]:
        ops: list[Op] = []
        while True:
            try:
                ops.append(self._recv.receive_nowait())
            except anyio.WouldBlock:
                return ops

    def drop_queued(self) -> None:
        """Forget everything queued (the service fell behind: all of it is late)."""
        self._drain()
        self._in_utterance = False
        self._requeue([])

    def drop_failed(self) -> bool:
        """The stream failed: forget the queued rest of the utterance it was sending, keep
        later utterances for the next connection.  True if the processor is still inside
        the failed utterance (no finalize for it was queued yet)."""
        ops = self._drain()
        if self._in_utterance:
            self._in_utterance = False
            if _Op.FINALIZE not in ops:
                self._requeue([])
                return True
            ops = ops[ops.index(_Op.FINALIZE) + 1 :]
        self._requeue(ops)
        return False

    def _requeue(self, ops: list[Op]) -> None:
        for op in ops:
            self._send.send_nowait(op)  # fits: they were just taken out
        self.pending_finals = ops.count(_Op.FINALIZE)
        self._finals_settled()
        if ops:
            self._wanted.set()  # later utterances are waiting: reconnect now

    def _finals_settled(self) -> None:
        if self.pending_finals <= 0:
            self.pending_finals = 0
            self.finals_done.set()

    async def serve(self) -> None:
        """Keep a connection while audio wants one; hand results and failures over."""
        while True:
            await self._wanted.wait()
            try:
                async with self.engine.connect() as stream:
                    failed: S2SError | None = None
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(self._pump, stream)
                        try:
                            await self._hand_over(stream)
                        except S2SError as error:  # out of the group, not as a group
                            failed = error
                        tg.cancel_scope.cancel()
                    raise failed or S2SError(
                        "receive", ErrorCode.STREAM_CLOSED, f"{self.engine.name}: stream ended"
                    )
            except Exception as exc:  # (a bug too: reported, and the next turn gets a try)
                report = exc if isinstance(exc, S2SError) else self._unexpected(exc)
                self._wanted = anyio.Event()  # the next audio asks for a new connection
                await self.processor._service_failed(report, self.drop_failed())

    def _unexpected(self, exc: Exception) -> S2SError:
        return S2SError(
            "recognise",
            ErrorCode.INTERNAL_ERROR,
            f"{self.engine.name}: {type(exc).__name__}: {exc}",
            cause=exc,
        )

    async def _hand_over(self, stream: AsyncSTTStream) -> None:
        async for result in stream.results():
            if result.final:
                self.pending_finals -= 1
                self._finals_settled()
            await self.processor._service_result(result)

    async def _pump(self, stream: AsyncSTTStream) -> None:
        async for op in self._recv:
            self._in_utterance = isinstance(op, bytes)
            if op is _Op.FINALIZE:
                await stream.finalize()
            elif op is _Op.RESET:
                await stream.reset()
            else:
                await stream.send(op)
