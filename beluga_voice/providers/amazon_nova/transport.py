"""A small HTTP/2 client on the ``h2`` state machine over anyio byte streams.

Bedrock's bidirectional stream is one long HTTP/2 request whose body and response are sent
at the same time, which no HTTP library on Python 3.11 exposes; ``h2`` does the framing and
this module only moves bytes.  Design points:

* **Pull-driven reads, no background task.**  Whoever needs something from the server (the
  session's event iterator, or a writer blocked on flow control) calls :meth:`wait_for`,
  which reads the socket under a lock until its condition holds.  A writer that finds the
  reader already busy waits for the reader's progress instead, so WINDOW_UPDATE frames
  always reach the writer that needs them.
* **Several streams per connection.**  Session continuation opens the next Bedrock stream
  while the current one still runs; both live on the one connection and one reader.
* Writes to the socket are serialised with a lock; ``h2`` keeps its own output queue in
  order, so whoever holds the lock flushes everything queued so far.
"""

from __future__ import annotations

import contextlib
import ssl
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import anyio
import anyio.abc
import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from anyio.streams.tls import TLSAttribute

from ...tls import client_context
from ..errors import ErrorCode, S2SError

__all__ = ["H2Connection", "H2Stream"]

_READ_SIZE = 65536
_INBOUND_WINDOW = 16 * 1024 * 1024
_SEND_TIMEOUT = 10.0


@dataclass(slots=True)
class H2Stream:
    """Client-side state of one request: response headers, received body chunks, the end."""

    stream_id: int
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    chunks: deque[bytes] = field(default_factory=deque)
    ended: bool = False
    """The server finished its side (END_STREAM)."""
    reset_code: int | None = None
    """The stream was reset (RST_STREAM) with this HTTP/2 error code."""
    local_closed: bool = False

    @property
    def finished(self) -> bool:
        """Nothing more will arrive from the server on this stream."""
        return self.ended or self.reset_code is not None


class H2Connection:
    """One client connection.  Build it with :meth:`connect`."""

    def __init__(
        self,
        sock: anyio.abc.ByteStream,
        authority: str,
        scheme: str,
        *,
        send_timeout: float = _SEND_TIMEOUT,
    ) -> None:
        self._sock = sock
        self.send_timeout = send_timeout
        """The deadline of every write: the socket send, and the wait for flow-control credit."""
        self.authority = authority
        self.scheme = scheme
        self._h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        )
        self._streams: dict[int, H2Stream] = {}
        self._read_lock = anyio.Lock()
        self._write_lock = anyio.Lock()
        self._progress = anyio.Event()
        self.error: S2SError | None = None
        self._closed = False

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        tls: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 10.0,
        send_timeout: float = _SEND_TIMEOUT,
    ) -> H2Connection:
        """Open TCP (+TLS with ALPN ``h2``, or cleartext h2c with prior knowledge)."""
        try:
            with anyio.fail_after(timeout):
                if tls:
                    ctx = ssl_context or client_context()
                    ctx.set_alpn_protocols(["h2"])
                    sock: anyio.abc.ByteStream = await anyio.connect_tcp(
                        host, port, tls=True, ssl_context=ctx, tls_standard_compatible=False
                    )
                    alpn = sock.extra(TLSAttribute.alpn_protocol, None)
                    if alpn != "h2":
                        await sock.aclose()
                        raise S2SError(
                            "connect",
                            ErrorCode.NETWORK_ERROR,
                            f"{host}:{port} did not negotiate HTTP/2 (ALPN {alpn!r})",
                        )
                else:
                    sock = await anyio.connect_tcp(host, port)
        except TimeoutError as exc:
            raise S2SError(
                "connect", ErrorCode.TIMEOUT, f"{host}:{port}: no connection in {timeout:g} s"
            ) from exc
        except (OSError, ssl.SSLError, anyio.BrokenResourceError) as exc:
            raise S2SError(
                "connect", ErrorCode.NETWORK_ERROR, f"{host}:{port}: {exc}", cause=exc
            ) from exc
        default_port = 443 if tls else 80
        authority = host if port == default_port else f"{host}:{port}"
        conn = cls(sock, authority, "https" if tls else "http", send_timeout=send_timeout)
        # Set before the preface is sent (h2's documented way); keeps h2's own defaults.
        codes = h2.settings.SettingCodes
        conn._h2.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                codes.INITIAL_WINDOW_SIZE: _INBOUND_WINDOW,
                codes.ENABLE_PUSH: 0,
                codes.MAX_CONCURRENT_STREAMS: 100,
                codes.MAX_HEADER_LIST_SIZE: 65536,
            },
        )
        conn._h2.initiate_connection()
        conn._h2.increment_flow_control_window(_INBOUND_WINDOW)
        await conn._flush()
        return conn

    # -- writing ----------------------------------------------------------------------------

    async def _flush(self) -> None:
        async with self._write_lock:
            data = self._h2.data_to_send()
            if not data:
                return
            # h2 has handed these bytes over: they must all go out (a cancellation half way
            # would corrupt the framing), but a peer that stops reading must not hang us.
            with anyio.CancelScope(shield=True), anyio.move_on_after(self.send_timeout) as scope:
                try:
                    await self._sock.send(data)
                except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
                    self._fail(
                        S2SError("send", ErrorCode.NETWORK_ERROR, "connection lost", cause=exc)
                    )
                    raise self.error from exc  # type: ignore[misc]
            if scope.cancelled_caught:
                self._fail(
                    S2SError(
                        "send", ErrorCode.STREAM_TIMEOUT, f"send stalled {self.send_timeout:g} s"
                    )
                )
                raise self.error  # type: ignore[misc]

    def _check(self, op: str) -> None:
        if self.error is not None:
            raise self.error
        if self._closed:
            raise S2SError(op, ErrorCode.STREAM_CLOSED, "connection closed")

    async def open_stream(self, path: str, headers: Sequence[tuple[str, str]]) -> H2Stream:
        """Send request headers (without END_STREAM: the body follows as events)."""
        self._check("open_stream")
        stream_id = self._h2.get_next_available_stream_id()
        request = [
            (":method", "POST"),
            (":scheme", self.scheme),
            (":authority", self.authority),
            (":path", path),
            *headers,
        ]
        stream = self._streams[stream_id] = H2Stream(stream_id)
        self._h2.send_headers(stream_id, request)
        await self._flush()
        return stream

    async def send_data(self, stream: H2Stream, data: bytes, *, end: bool = False) -> None:
        """Send body bytes, waiting for flow-control credit as needed."""
        view = memoryview(data)
        sid = stream.stream_id
        while view:
            self._check("send")
            if stream.reset_code is not None or stream.local_closed:
                raise S2SError("send", ErrorCode.STREAM_CLOSED, f"stream {sid} is closed")
            window = min(self._h2.local_flow_control_window(sid), self._h2.max_outbound_frame_size)
            if window <= 0:
                with anyio.move_on_after(self.send_timeout) as scope:
                    await self.wait_for(
                        lambda: (
                            stream.reset_code is not None
                            or self._h2.local_flow_control_window(sid) > 0
                        )
                    )
                if scope.cancelled_caught:
                    # The server stopped reading: the connection is of no more use.
                    self._fail(
                        S2SError(
                            "send",
                            ErrorCode.STREAM_TIMEOUT,
                            f"no HTTP/2 flow-control credit for {self.send_timeout:g} s",
                        )
                    )
                    raise self.error  # type: ignore[misc]
                continue
            try:
                self._h2.send_data(sid, bytes(view[:window]))
            except h2.exceptions.ProtocolError as exc:
                raise S2SError("send", ErrorCode.STREAM_CLOSED, str(exc), cause=exc) from exc
            view = view[window:]
            await self._flush()
        if end:
            await self.end_stream(stream)

    async def end_stream(self, stream: H2Stream) -> None:
        """Finish our side of the request (idempotent, and quiet on a dead stream)."""
        if stream.local_closed or stream.reset_code is not None or self.error is not None:
            stream.local_closed = True
            return
        stream.local_closed = True
        try:
            self._h2.end_stream(stream.stream_id)
        except h2.exceptions.ProtocolError:
            return
        await self._flush()

    async def reset_stream(self, stream: H2Stream) -> None:
        """Abandon a stream (RST_STREAM CANCEL)."""
        if stream.reset_code is None and self.error is None and not self._closed:
            stream.reset_code = 8
            try:
                self._h2.reset_stream(stream.stream_id, error_code=8)
            except h2.exceptions.ProtocolError:
                return
            await self._flush()

    def forget(self, stream: H2Stream) -> None:
        self._streams.pop(stream.stream_id, None)

    # -- reading ----------------------------------------------------------------------------

    async def wait_for(self, ready: Callable[[], bool]) -> None:
        """Read the connection until ``ready()`` holds; raise the connection's error if it dies."""
        while not ready():
            self._check("receive")
            if self._read_lock.locked():
                progress = self._progress
                await progress.wait()
                continue
            async with self._read_lock:
                if ready():
                    return
                await self._read_once()

    async def _read_once(self) -> None:
        try:
            data = await self._sock.receive(_READ_SIZE)
        except anyio.EndOfStream:
            self._fail(S2SError("receive", ErrorCode.NETWORK_ERROR, "server closed the connection"))
            return
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError, ssl.SSLError) as exc:
            self._fail(
                S2SError("receive", ErrorCode.NETWORK_ERROR, f"connection lost: {exc}", cause=exc)
            )
            return
        finally:
            progress, self._progress = self._progress, anyio.Event()
            progress.set()
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self._fail(S2SError("receive", ErrorCode.STREAM_ERROR, f"HTTP/2: {exc}", cause=exc))
            return
        for event in events:
            self._dispatch(event)
        await self._flush()

    def _dispatch(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.ConnectionTerminated):
            code = event.error_code
            self._fail(
                S2SError(
                    "receive",
                    ErrorCode.STREAM_CLOSED if code == 0 else ErrorCode.STREAM_ERROR,
                    f"server sent GOAWAY (error code {int(code or 0)})",
                )
            )
            return
        stream = self._streams.get(getattr(event, "stream_id", 0) or 0)
        if isinstance(event, h2.events.DataReceived):
            if event.flow_controlled_length:
                self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if stream is not None and event.data:
                stream.chunks.append(event.data)
        elif stream is None:
            return
        elif isinstance(event, h2.events.ResponseReceived):
            headers = {str(k): str(v) for k, v in event.headers}
            stream.headers = headers
            try:
                stream.status = int(headers.get(":status", "0"))
            except ValueError:
                stream.status = 0
        elif isinstance(event, h2.events.StreamEnded):
            stream.ended = True
        elif isinstance(event, h2.events.StreamReset):
            stream.reset_code = int(event.error_code or 0)

    def _fail(self, error: S2SError) -> None:
        if self.error is None:
            self.error = error

    async def aclose(self) -> None:
        """Say goodbye (GOAWAY) and close the socket; never raises."""
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True), anyio.move_on_after(1.0):
            # The connection is going away anyway: a failing goodbye changes nothing.
            with contextlib.suppress(Exception):
                if self.error is None:
                    self._h2.close_connection()
                    async with self._write_lock:
                        data = self._h2.data_to_send()
                        if data:
                            await self._sock.send(data)
            with contextlib.suppress(Exception):
                await self._sock.aclose()
