"""One server-side WebSocket connection on picows, with the ``websockets`` API we use.

picows parses frames in C and hands each one to a :class:`~picows.WSListener` callback;
``websockets`` spends ~37 us of Python per echoed frame doing the same.
:class:`PicowsConnection` is that listener, and offers the part of ``websockets``'
``ServerConnection`` that the session code uses (:mod:`.transport`, :mod:`.server`, WebRTC
signalling, the OpenAI-compatible server), so that code runs unchanged on either engine:

* ``await recv()`` and ``async for message in connection``: whole messages, ``bytes`` for
  binary and ``str`` for text; iteration ends on a normal close (1000/1001).
* ``await send(message)``, ``await close(code, reason)``;
* ``request`` (path, headers), ``remote_address``, ``subprotocol``, ``transport`` (the
  socket's transport: ``transport.abort()`` drops the peer), ``close_code``;
* :class:`~websockets.exceptions.ConnectionClosedOK` / ``ConnectionClosedError`` with the
  close frames sent and received, as ``websockets`` raises them.

What it guarantees (what ``websockets`` does, checked by tests/test_picows_engine.py):

* Messages: fragments (CONTINUATION frames) are assembled; a message over ``max_size``
  closes with 1009 (picows itself refuses one *frame* over it); text that is not UTF-8
  closes with 1007; a stray or missing continuation with 1002.  Pings are answered by
  picows; a peer's close frame is answered and the socket closed.
* Receive queue: at most ``max_queue`` messages wait; then the socket is not read until the
  reader has taken them down to a quarter of that (TCP pushes back on the peer).  picows
  delivers every frame of a socket read it has started, and reads as much as the kernel
  holds (its buffer grows to fit), so the queue may pass the mark by the frames of one
  read; the socket's receive buffer is capped at :data:`RECV_BUFFER` (the kernel's
  autotuning would let it grow to tens of MB), which bounds that read.  A flooding client
  costs ``max_queue`` messages plus about twice ``RECV_BUFFER``, never more.
* Send: the frame is written at once; while the socket's write buffer is over its high
  mark, ``send`` waits for it to drain (backpressure), and raises ``ConnectionClosed`` if
  the peer goes meanwhile.
* Close: one close frame, then the peer's answer is awaited for ``close_timeout`` seconds
  at most before the socket is dropped; idempotent; a cancelled close drops the socket.
* Hot path: a message is one ``bytes``/``str`` copy into a deque; a future is made only
  when the reader actually waits for the next message.  While it waits and nothing is
  queued, a binary message is first offered to :attr:`PicowsConnection.feed` (the
  session's input half, see :class:`~.engines.Feedable`), which may handle it from this
  callback without waking the reader at all.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any, Final, cast

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK
from websockets.frames import Close
from websockets.http11 import Request
from websockets.typing import Subprotocol

__all__ = ["MAX_QUEUE", "RECV_BUFFER", "WRITE_LIMIT", "PicowsConnection"]

MAX_QUEUE: Final = 16
"""Messages waiting to be read before the socket is paused (``websockets``' default)."""
WRITE_LIMIT: Final = 32 * 1024
"""Bytes waiting in the write buffer before ``send`` waits (``websockets``' default)."""
RECV_BUFFER: Final = 256 * 1024
"""The socket's receive buffer (SO_RCVBUF; Linux doubles it): 8 s of 16 kHz PCM16, far
more than a voice session needs in flight, and the cap on one read of a flooding peer."""

_TEXT: Final = WSMsgType.TEXT
_BINARY: Final = WSMsgType.BINARY
_CONTINUATION: Final = WSMsgType.CONTINUATION
_CLOSE: Final = WSMsgType.CLOSE
_OK_CODES: Final = frozenset({1000, 1001, 1005})
_NO_STATUS: Final = 1005
_MAX_REASON_BYTES: Final = 123  # a close frame's payload is 125 bytes, 2 of them the code


class PicowsConnection(WSListener):
    """See the module docstring.  Made by the engine's request router; ``on_open`` is
    called once the handshake is done (it starts the session's handler)."""

    def __init__(
        self,
        request: Request,
        subprotocol: Subprotocol | None,
        *,
        max_size: int,
        close_timeout: float,
        on_open: Callable[[PicowsConnection], None],
        max_queue: int = MAX_QUEUE,
    ) -> None:
        super().__init__()
        self.request = request
        self.subprotocol = subprotocol
        self.remote_address: Any = None
        self.transport: Any = None
        """The socket's asyncio transport (``transport.abort()`` drops the peer)."""
        self.close_sent: Close | None = None
        self.close_rcvd: Close | None = None
        self._rcvd_then_sent = False
        self.max_size = max_size
        self.max_queue = max_queue
        self.close_timeout = close_timeout
        self._on_open = on_open
        self._ws: WSTransport | None = None
        self._loop = asyncio.get_running_loop()
        self._queue: deque[str | bytes] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.feed: Callable[[str | bytes], bool] | None = None
        """Offered each binary message first while the reader waits (see
        :class:`~.engines.Feedable`); set by the session's input half."""
        self._reading_paused = False
        self._writable: asyncio.Future[None] | None = None
        self._fragments: list[bytes] | None = None
        self._fragments_text = False
        self._fragments_size = 0
        self._closed: asyncio.Future[None] = self._loop.create_future()
        self._close_timer: asyncio.TimerHandle | None = None

    # -- picows callbacks ----------------------------------------------------------------------

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._ws = transport
        self.transport = transport.underlying_transport
        self.remote_address = self.transport.get_extra_info("peername")
        # websockets' write limit: a peer that stops reading costs this much before
        # ``send`` waits (and send_timeout starts counting).
        self.transport.set_write_buffer_limits(high=WRITE_LIMIT)
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)
        self._on_open(self)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        msg_type = frame.msg_type
        if msg_type is _BINARY or msg_type is _TEXT:
            if self.close_sent is not None or transport.is_close_frame_sent:
                self._closing_started()  # closing: what the peer still sends is dropped
            elif self._fragments is not None:
                self._fail(1002, "expected a continuation frame")
            elif not frame.fin:
                self._fragments = [frame.get_payload_as_bytes()]
                self._fragments_text = msg_type is _TEXT
                self._fragments_size = frame.payload_size
            elif msg_type is _BINARY:
                payload = frame.get_payload_as_bytes()
                feed = self.feed
                waiter = self._waiter
                # Only while the reader waits and nothing is queued: nothing can overtake.
                if (
                    feed is None
                    or waiter is None
                    or waiter.done()
                    or self._queue
                    or not feed(payload)
                ):
                    self._put(payload)
            else:
                try:
                    self._put(frame.get_payload_as_utf8_text())
                except UnicodeDecodeError:
                    self._fail(1007, "invalid UTF-8 text")
        elif msg_type is _CONTINUATION:
            self._continue(transport, frame)
        elif msg_type is _CLOSE:
            self._on_close_frame(frame)
        # PING is answered by picows; an unsolicited PONG needs nothing.

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._closing_started()
        if self._close_timer is not None:
            self._close_timer.cancel()
        self._fragments = None
        self._wake(self._waiter)
        self._wake(self._writable)
        self._wake(self._closed)

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = self._loop.create_future()

    def resume_writing(self) -> None:
        writable, self._writable = self._writable, None
        self._wake(writable)

    # -- receiving -----------------------------------------------------------------------------

    def _put(self, message: str | bytes) -> None:
        queue = self._queue
        queue.append(message)
        if self._waiter is not None:
            self._wake(self._waiter)
        if len(queue) >= self.max_queue and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()

    def _continue(self, transport: WSTransport, frame: WSFrame) -> None:
        fragments = self._fragments
        if self.close_sent is None and transport.is_close_frame_sent:
            self._closing_started()
        if fragments is None or self.close_sent is not None:
            if fragments is None and self.close_sent is None:
                self._fail(1002, "a continuation frame without a message to continue")
            self._fragments = None  # closing: the rest of the message is dropped
            return
        self._fragments_size += frame.payload_size
        if self._fragments_size > self.max_size:
            self._fail(1009, f"message over {self.max_size} bytes")
            return
        fragments.append(frame.get_payload_as_bytes())
        if not frame.fin:
            return
        self._fragments = None
        payload = b"".join(fragments)
        if not self._fragments_text:
            self._put(payload)
            return
        try:
            self._put(payload.decode())
        except UnicodeDecodeError:
            self._fail(1007, "invalid UTF-8 text")

    def _on_close_frame(self, frame: WSFrame) -> None:
        # picows has checked the code and the reason's UTF-8 before this frame reached us.
        ws = self._ws
        assert ws is not None
        code = frame.get_close_code().value or _NO_STATUS
        self.close_rcvd = Close(code, frame.get_close_reason())
        if ws.is_close_frame_sent:
            self._closing_started()
        if self.close_sent is None:  # the peer closes: answer with its code, then hang up
            self.close_sent = self.close_rcvd
            self._rcvd_then_sent = True
            if code == _NO_STATUS:
                ws.send(_CLOSE, b"")
            else:
                ws.send_close(_code(code), frame.get_close_message())
        self._fragments = None
        self._resume_reading()
        ws.disconnect()  # the server closes the TCP connection first (RFC 6455, 7.1.1)

    async def recv(self) -> str | bytes:
        """The next message; ``ConnectionClosed`` once the connection is closed and every
        message that arrived before has been read."""
        queue = self._queue
        while not queue:
            if self._closed.done():
                raise self._close_exc()
            if self._waiter is not None:
                raise RuntimeError("another task is already waiting for the next message")
            waiter = self._waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        message = queue.popleft()
        if self._reading_paused and len(queue) <= self.max_queue // 4:
            self._resume_reading()
        return message

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return self

    async def __anext__(self) -> str | bytes:
        queue = self._queue
        if queue and not self._reading_paused:  # the common case, without a second frame
            return queue.popleft()
        try:
            return await self.recv()
        except ConnectionClosedOK:
            raise StopAsyncIteration from None

    def _resume_reading(self) -> None:
        if self._reading_paused:
            self._reading_paused = False
            self.transport.resume_reading()

    # -- sending -------------------------------------------------------------------------------

    async def send(self, message: str | bytes | bytearray | memoryview) -> None:
        """Write ``message`` (``str``: a text message); wait while the peer is behind."""
        ws = self._ws
        if self.close_sent is not None or ws is None or self.transport.is_closing():
            # Closing, or the socket is gone and picows has not heard yet (it learns on
            # the next loop turn): writing now would only warn.
            await self._wait_closed()
            raise self._close_exc()
        if isinstance(message, str):
            ws.send(_TEXT, message)
        elif isinstance(message, bytes | bytearray | memoryview):
            ws.send(_BINARY, message)
        else:
            raise TypeError(f"cannot send {type(message).__name__}: str or bytes only")
        while self._writable is not None:  # over the write buffer's high mark
            await asyncio.shield(self._writable)
            if self._closed.done():
                raise self._close_exc()

    # -- closing -------------------------------------------------------------------------------

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with ``code`` and ``reason``; return once the socket is closed (at most
        ``close_timeout`` seconds later).  Does nothing more on a closing connection."""
        if self.close_sent is None and not self._closed.done():
            self._start_close(code, reason)
        await self._wait_closed()

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    async def _wait_closed(self) -> None:
        try:
            await asyncio.shield(self._closed)
        except BaseException:  # cancelled: nobody will wait for the handshake any more
            self.abort()
            raise

    def abort(self) -> None:
        """Drop the socket now (no close handshake)."""
        if self.transport is not None:
            self.transport.abort()

    @property
    def close_code(self) -> int | None:
        """The code of the close frame received (None: none yet, or the peer vanished)."""
        return self.close_rcvd.code if self.close_rcvd is not None else None

    def _closing_started(self) -> None:
        """Note a close frame picows sent on its own (a frame over ``max_size``, a broken
        frame, a keepalive timeout), as if we had sent it."""
        ws = self._ws
        sent = ws.close_handshake.sent if ws is not None and ws.close_handshake else None
        if self.close_sent is None and sent is not None:
            self.close_sent = Close(sent.code.value, sent.reason)
            self._fragments = None
            self._resume_reading()

    def _fail(self, code: int, reason: str) -> None:
        """Close because the peer broke the protocol: its further messages are dropped."""
        self._fragments = None
        if self.close_sent is None:
            self._start_close(code, reason)

    def _start_close(self, code: int, reason: str) -> None:
        ws = self._ws
        if ws is None:  # the handshake never finished: nothing to say to the peer
            self._wake(self._closed)
            return
        data = reason.encode()[:_MAX_REASON_BYTES].decode(errors="ignore")
        self.close_sent = Close(code, data)
        ws.send_close(_code(code), data.encode())
        # The peer's answer may wait behind messages we stopped reading: read again (they
        # are dropped now), and drop the socket if the answer does not come in time.
        self._resume_reading()
        self._close_timer = self._loop.call_later(self.close_timeout, self.abort)

    def _close_exc(self) -> ConnectionClosed:
        rcvd, sent = self.close_rcvd, self.close_sent
        if rcvd is None or sent is None:
            return ConnectionClosedError(rcvd, sent, None)
        ok = rcvd.code in _OK_CODES and sent.code in _OK_CODES
        exc_type = ConnectionClosedOK if ok else ConnectionClosedError
        return exc_type(rcvd, sent, self._rcvd_then_sent)

    @staticmethod
    def _wake(future: asyncio.Future[None] | None) -> None:
        if future is not None and not future.done():
            future.set_result(None)


def _code(code: int) -> WSCloseCode:
    # picows' close codes are a Cython enum that takes any int (4408 reaches the peer as
    # 4408); only its type stubs say otherwise.
    return cast(WSCloseCode, code)
