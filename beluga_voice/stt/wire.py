"""The shell shared by the WebSocket recognition services (Deepgram, AssemblyAI, OpenAI
realtime).

Each service is a sans-I/O :class:`~beluga_voice.stt.wire_core.WireCore` (which messages
to send, what the received ones mean, the state of the utterance) under one
:class:`WebSocketSTTStream`, which does the I/O the same way for all of them:

* **deadlines**: the handshake (``connect_timeout``) and the final result after
  :meth:`~WebSocketSTTStream.finalize` (``finalize_timeout``: past it the core gives the
  best transcript it has, or the turn fails with ``stream_timeout``);
* **keepalive**: services close idle sockets (Deepgram after 10 s without audio), so the
  core's keepalive message goes out every ``keepalive_s`` of silence;
* **reconnect**: a connection that drops (no close asked for by us, or a retryable close
  code) is opened again up to ``reconnects`` times, and the audio of every utterance not
  yet answered (kept up to ``replay_s`` seconds in all) is sent again, each finalized one
  finalized again; audio beyond that bound, or a connection that cannot be restored,
  fails the stream
  with an :class:`~beluga_voice.errors.S2SError` (never silently);
* **backpressure**: results go through a bounded channel of ``_RESULTS`` entries; a
  consumer that stops reading stops the reader, and the service's socket with it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import anyio
import anyio.abc
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from ..errors import ErrorCode, S2SError
from ..wire import open_websocket, redacting_logger
from .base import AsyncSTTStream, STTResult
from .wire_core import Outgoing, Unanswered, WireCore, WireOptions

__all__ = ["WebSocketSTTStream"]

log = logging.getLogger("beluga_voice.stt")

_RESULTS = 64


class WebSocketSTTStream(AsyncSTTStream):
    """See the module docstring.  Run it with ``async with stream.running():``."""

    def __init__(self, core: WireCore, options: WireOptions | None = None) -> None:
        options = options or WireOptions()
        self.core = core
        self.sample_rate = core.sample_rate
        self.connect_timeout = options.connect_timeout
        self.finalize_timeout = options.finalize_timeout
        self.keepalive_s = options.keepalive_s
        self.reconnects = options.reconnects
        self._unanswered = Unanswered(int(options.replay_s * core.sample_rate) * 2)
        self._ws: ClientConnection | None = None
        self._lock = anyio.Lock()
        """Held while a connection is (re)opened and replayed: sends wait for it."""
        self._send, self._recv = anyio.create_memory_object_stream[STTResult | S2SError](_RESULTS)
        self._closing = False
        self._last_sent = 0.0
        self._final_due: float | None = None
        self._wake = anyio.Event()
        self.connections = 0
        self._logger = redacting_logger(f"beluga_voice.stt.{core.service}.wire")

    # -- lifetime ---------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[WebSocketSTTStream]:
        """Connect (an S2SError if refused), serve, and close on every way out."""
        async with self._lock:
            await self._connect()
        failed: S2SError | None = None
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._read)
                tg.start_soon(self._watch)
                try:
                    yield self
                except S2SError as error:  # raised out of the group, not as a group
                    failed = error
                finally:
                    await self._close()
                    tg.cancel_scope.cancel()
        finally:
            self._send.close()
        if failed is not None:
            raise failed

    async def _connect(self) -> None:
        self._ws = await open_websocket(
            self.core.url(),
            self.core.headers(),
            timeout=self.connect_timeout,
            provider=self.core.service,
            logger=self._logger,
        )
        self.connections += 1
        self._last_sent = anyio.current_time()
        try:
            for message in self.core.opening():
                await self._ws.send(message)
        except ConnectionClosed:
            raise S2SError(
                "connect", ErrorCode.NETWORK_ERROR, f"{self.core.service}: closed during setup"
            ) from None

    async def _close(self) -> None:
        """Say goodbye the service's way, within a deadline, shielded from cancellation."""
        self._closing = True
        ws = self._ws
        if ws is None:
            return
        with anyio.CancelScope(shield=True), anyio.move_on_after(2.0):
            with contextlib.suppress(ConnectionClosed, OSError):
                for message in self.core.closing():
                    await ws.send(message)
            await ws.close()

    # -- the caller's side -----------------------------------------------------------------------

    async def send(self, pcm: bytes) -> None:
        if not pcm:
            return
        self._unanswered.add(pcm)
        await self._transmit(self.core.audio(pcm))

    async def finalize(self) -> None:
        messages, result = self.core.finalize()
        if result is not None:
            await self._deliver([result])
            return
        self._unanswered.close_open()
        if self._final_due is None:
            self._final_due = anyio.current_time() + self.finalize_timeout
        self._wake.set()
        await self._transmit(messages)

    async def reset(self) -> None:
        self._unanswered.drop_open()
        await self._transmit(self.core.reset())

    async def results(self) -> AsyncIterator[STTResult]:
        async for item in self._recv:
            if isinstance(item, S2SError):
                raise item
            yield item

    # -- I/O --------------------------------------------------------------------------------------

    async def _transmit(self, messages: list[Outgoing]) -> None:
        """Send now; a connection that dropped is the reader's to restore (the audio is
        kept for the replay), so a send never fails on it."""
        async with self._lock:
            ws = self._ws
            if ws is None:
                return
            with contextlib.suppress(ConnectionClosed):
                for message in messages:
                    await ws.send(message)
                self._last_sent = anyio.current_time()

    async def _deliver(self, results: list[STTResult]) -> None:
        for result in results:
            if result.final:
                self._unanswered.answered()
                waiting = self._unanswered.waiting
                self._final_due = anyio.current_time() + self.finalize_timeout if waiting else None
            await self._send.send(result)

    async def _fail(self, error: S2SError) -> None:
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            await self._send.send(error)
        self._closing = True

    async def _read(self) -> None:
        while not self._closing:
            ws = self._ws
            assert ws is not None
            try:
                message = await ws.recv()
            except ConnectionClosed as exc:
                if self._closing:
                    return
                if not await self._restore(exc):
                    return
                continue
            if isinstance(message, bytes):
                continue  # no service here sends binary frames we need
            try:
                results = self.core.receive(message)
            except S2SError as error:
                await self._fail(error)
                return
            await self._deliver(results)

    async def _restore(self, closed: ConnectionClosed) -> bool:
        """The connection dropped: reconnect and replay, or fail the stream."""
        rcvd = closed.rcvd
        code = self.core.close_code(rcvd.code if rcvd is not None else None)
        said = f" ({rcvd.code} {rcvd.reason})" if rcvd is not None else ""
        if code not in (
            ErrorCode.NETWORK_ERROR,
            ErrorCode.STREAM_CLOSED,
            ErrorCode.INTERNAL_ERROR,
            ErrorCode.MODEL_NOT_AVAILABLE,
        ):
            await self._fail(S2SError("receive", code, f"{self.core.service}: closed{said}"))
            return False
        if self._unanswered.lost:
            await self._fail(
                S2SError(
                    "receive",
                    ErrorCode.STREAM_CLOSED,
                    f"{self.core.service}: connection lost{said}; the utterance was too "
                    "long to replay",
                )
            )
            return False
        last: S2SError | None = None
        async with self._lock:
            for attempt in range(1, self.reconnects + 1):
                log.info("%s: connection lost%s; reconnect %d", self.core.service, said, attempt)
                try:
                    await self._connect()
                except S2SError as error:
                    last = error
                    if not error.is_retryable:
                        break
                    continue
                self.core.reconnected()
                assert self._ws is not None
                try:
                    await self._replay(self._ws)
                except ConnectionClosed:
                    continue
                return True
        why = f": {last.message}" if last is not None else ""
        await self._fail(
            S2SError(
                "reconnect",
                last.code if last is not None else code,
                f"{self.core.service}: connection lost{said} and not restored{why}",
            )
        )
        return False

    async def _replay(self, ws: ClientConnection) -> None:
        """Send the unanswered utterances again, each finalized one finalized again."""
        utterances = self._unanswered.utterances
        for i, utterance in enumerate(utterances):
            for pcm in utterance.chunks:
                for message in self.core.audio(pcm):
                    await ws.send(message)
            if i < len(utterances) - 1:
                messages, result = self.core.finalize()
                for message in messages:
                    await ws.send(message)
                if result is not None:  # an utterance with no audio: answered at once
                    await self._deliver([result])
        if self._final_due is not None:
            self._final_due = anyio.current_time() + self.finalize_timeout

    async def _watch(self) -> None:
        """The clocks: a final result overdue, a keepalive due."""
        while not self._closing:
            now = anyio.current_time()
            if self._final_due is not None and now >= self._final_due:
                self._final_due = None
                try:
                    result = self.core.expire()
                except S2SError as error:
                    await self._fail(error)
                    return
                await self._deliver([result])
                continue
            due = [self._final_due] if self._final_due is not None else []
            keepalive = self.core.keepalive() if self.keepalive_s is not None else []
            if keepalive and self.keepalive_s is not None:
                if now >= self._last_sent + self.keepalive_s:
                    await self._transmit(keepalive)
                    continue
                due.append(self._last_sent + self.keepalive_s)
            self._wake = anyio.Event()
            with anyio.move_on_after(max(0.0, min(due, default=now + 3600.0) - now)):
                await self._wake.wait()
