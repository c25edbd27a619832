"""A fake Bedrock runtime endpoint for ``InvokeModelWithBidirectionalStream`` on HTTP/2.

Run it in a test (or to develop offline) and point the ``amazon_nova`` provider at it::

    async with FakeBedrock() as fake:                # or FakeBedrock(tls=True)
        provider = AmazonNovaSonicProvider(settings=NovaSettings(
            endpoint_url=fake.url, aws_access_key_id=fake.credentials.access_key,
            aws_secret_access_key=fake.credentials.secret_key))

It speaks cleartext h2c (prior knowledge) or TLS with ALPN ``h2`` and a certificate made at
run time by ``trustme`` (:meth:`FakeBedrock.client_ssl_context` trusts it).  It checks the
request's SigV4 signature and every event's chunk signature, the event order, and answers
with scripted replies; :attr:`open_failures` and :attr:`injections` make it fail the way
Bedrock fails.  Everything each stream received is in :attr:`records`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import re
import ssl
from types import TracebackType
from typing import Any, Self

import anyio
import anyio.abc
import h2.config
import h2.connection
import h2.events
import h2.exceptions
from anyio.streams.tls import TLSListener
from botocore.eventstream import EventStreamBuffer

from ...tls import client_context, server_context
from .conversation import Conversation, ProtocolViolation
from .script import Injection, OpenFailure, Script, StreamRecord
from .wire import (
    ChunkVerifier,
    FakeCredentials,
    FrameError,
    event_frame,
    exception_frame,
    read_frames,
    verify_request,
)

__all__ = ["FakeBedrock"]

_PATH = re.compile(r"^/model/(?P<model>[^/]+)/invoke-with-bidirectional-stream$")
_MODELS = ("amazon.nova-2-sonic-v1%3A0", "amazon.nova-sonic-v1%3A0")


class FakeBedrock:
    """See the module docstring."""

    def __init__(
        self,
        *,
        script: Script | None = None,
        credentials: FakeCredentials | None = None,
        tls: bool = False,
    ) -> None:
        self.script = script or Script()
        self.credentials = credentials or FakeCredentials()
        self.tls = tls
        self.records: list[StreamRecord] = []
        self.open_failures: list[OpenFailure] = []
        self.injections: list[Injection] = []
        self.connections = 0
        self.port = 0
        self._turns = 0
        self._tg: anyio.abc.TaskGroup | None = None
        self._listener: anyio.abc.Listener[Any] | None = None
        self._ca: Any = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def client_ssl_context(self) -> ssl.SSLContext:
        """An SSL context that trusts the fake's generated certificate authority."""
        ctx = client_context()
        self._ca.configure_trust(ctx)
        return ctx

    def ca_pem(self) -> bytes:
        return bytes(self._ca.cert_pem.bytes())

    @property
    def audio_bytes(self) -> int:
        """User audio received over all streams."""
        return sum(len(r.audio) for r in self.records)

    def _next_turn(self) -> int:
        self._turns += 1
        return self._turns

    async def __aenter__(self) -> Self:
        listener: anyio.abc.Listener[Any] = await anyio.create_tcp_listener(
            local_host="127.0.0.1", local_port=0
        )
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        if self.tls:
            import trustme

            self._ca = trustme.CA()
            ctx = server_context()
            self._ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
            ctx.set_alpn_protocols(["h2"])
            listener = TLSListener(listener, ctx, standard_compatible=False)
        self._listener = listener
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(listener.serve, self._serve_connection)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        try:
            await self._tg.__aexit__(exc_type, exc, tb)
        finally:
            if self._listener is not None:
                await self._listener.aclose()

    async def _serve_connection(self, sock: anyio.abc.ByteStream) -> None:
        self.connections += 1
        try:
            with contextlib.suppress(anyio.BrokenResourceError, anyio.EndOfStream, OSError):
                await _Connection(self, sock).run()
        finally:
            # Closed on every exit, cancellation included: a stopped fake drops its clients.
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await sock.aclose()


class _Connection:
    def __init__(self, fake: FakeBedrock, sock: anyio.abc.ByteStream) -> None:
        self.fake = fake
        self.sock = sock
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        self.lock = anyio.Lock()
        self.streams: dict[int, _Stream] = {}
        self.window = anyio.Event()

    async def flush(self) -> None:
        with anyio.CancelScope(shield=True):
            async with self.lock:
                data = self.h2.data_to_send()
                if data:
                    await self.sock.send(data)

    async def send(self, stream_id: int, data: bytes, *, end: bool = False) -> None:
        while self.h2.local_flow_control_window(stream_id) < len(data):
            event = self.window
            await event.wait()
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self.h2.send_data(stream_id, data, end_stream=end)
        await self.flush()

    async def run(self) -> None:
        self.h2.initiate_connection()
        await self.flush()
        async with anyio.create_task_group() as tg:
            while True:
                try:
                    data = await self.sock.receive(65536)
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    break
                try:
                    events = self.h2.receive_data(data)
                except h2.exceptions.ProtocolError:
                    break
                for event in events:
                    await self._dispatch(event, tg)
                await self.flush()
            tg.cancel_scope.cancel()

    async def _dispatch(self, event: h2.events.Event, tg: anyio.abc.TaskGroup) -> None:
        if isinstance(event, h2.events.RequestReceived):
            headers = {_text(k): _text(v) for k, v in event.headers or []}
            stream = _Stream(self, event.stream_id, headers)
            self.streams[event.stream_id] = stream
            tg.start_soon(stream.run)
        elif isinstance(event, h2.events.DataReceived):
            receiver = self.streams.get(event.stream_id)
            if receiver is None or not receiver.deaf:
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if receiver is not None:
                receiver.inbox.send_nowait(event.data)
        elif isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
            ended = self.streams.get(event.stream_id)
            if ended is not None:
                ended.record.client_ended = True
                if isinstance(event, h2.events.StreamReset):
                    ended.ended = True  # nothing more can be sent on a reset stream
                ended.inbox.close()
        elif isinstance(event, h2.events.WindowUpdated):
            self.window.set()
            self.window = anyio.Event()


def _text(value: str | bytes) -> str:
    """A header name or value as text.  ``header_encoding="utf-8"`` makes h2 hand over
    ``str`` already, though its annotations say ``bytes``; decode in case it does not."""
    return value.decode("utf-8") if isinstance(value, bytes) else value


class _Stream:
    def __init__(self, conn: _Connection, stream_id: int, headers: dict[str, str]) -> None:
        self.conn = conn
        self.fake = conn.fake
        self.id = stream_id
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.record = StreamRecord(number=len(self.fake.records) + 1)
        self.fake.records.append(self.record)
        self.inbox, self._receive = anyio.create_memory_object_stream[bytes](math.inf)
        self.ended = False
        self.stalled = False
        self.deaf = False

    async def _respond(
        self, status: int, error_type: str = "", message: str = "", *, keep_open: bool = False
    ) -> None:
        self.record.status = status
        headers = [(":status", str(status)), ("content-type", "application/vnd.amazon.eventstream")]
        if status != 200:
            headers = [(":status", str(status)), ("content-type", "application/json")]
            headers.append(("x-amzn-errortype", error_type))
        self.conn.h2.send_headers(self.id, headers)
        if status != 200:
            self.ended = True
            body = json.dumps({"message": message}).encode()
            await self.conn.send(self.id, body, end=not keep_open)
        else:
            await self.conn.flush()

    async def _end(self) -> None:
        if not self.ended:
            self.ended = True
            await self.conn.send(self.id, b"", end=True)

    async def send_event(self, event: dict[str, Any]) -> None:
        if not self.ended and not self.stalled:
            await self.conn.send(self.id, event_frame(event))

    async def _fail(self, exception_type: str, message: str) -> None:
        self.record.error = f"{exception_type}: {message}"
        if not self.ended:
            await self.conn.send(self.id, exception_frame(exception_type, message))
            await self._end()

    async def run(self) -> None:
        h = self.headers
        path = h.get(":path", "")
        self.record.path = path
        match = _PATH.match(path)
        if h.get(":method") != "POST" or match is None:
            await self._respond(404, "ResourceNotFoundException", "unknown operation")
            return
        if match["model"] not in _MODELS:
            await self._respond(400, "ValidationException", "unknown model id")
            return
        try:
            seed = verify_request(
                path, h.get(":authority", ""), h.get(":scheme", ""), h, self.fake.credentials
            )
        except FrameError as exc:
            kind = (
                "UnrecognizedClientException"
                if exc.kind == "unknown_key"
                else "InvalidSignatureException"
            )
            await self._respond(403, kind, str(exc))
            return
        if self.fake.open_failures:
            failure = self.fake.open_failures.pop(0)
            await self._respond(
                failure.status, failure.error_type, failure.message, keep_open=failure.keep_open
            )
            return
        await self._respond(200)
        async with anyio.create_task_group() as tg:
            conversation = Conversation(
                self.record, self.fake.script, self.send_event, tg, self.fake._next_turn
            )
            await self._read_events(ChunkVerifier(self.fake.credentials, seed), conversation)
            conversation.stopped = True
            conversation.cancel_reply()
            tg.cancel_scope.cancel()
        await self._end()

    async def _read_events(self, verifier: ChunkVerifier, conversation: Conversation) -> None:
        outer = EventStreamBuffer()
        async for data in self._receive:
            try:
                for envelope in read_frames(outer, data):
                    verifier.verify(envelope.headers, envelope.payload)
                    self.record.frames_verified = verifier.verified
                    if not envelope.payload:
                        self.record.end_marker = True
                        continue
                    await self._on_inner(envelope.payload, conversation)
                    await self._check_injections(conversation)
            except FrameError as exc:
                kind = (
                    "invalidSignatureException"
                    if exc.kind == "signature"
                    else "validationException"
                )
                await self._fail(kind, str(exc))
            except ProtocolViolation as exc:
                await self._fail("validationException", str(exc))
            except (TypeError, AttributeError, ValueError, KeyError) as exc:
                # Well-framed nonsense (wrong JSON types): refuse it like Bedrock would.
                await self._fail("validationException", f"malformed event: {type(exc).__name__}")

    async def _on_inner(self, payload: bytes, conversation: Conversation) -> None:
        inner = read_frames(EventStreamBuffer(), payload)
        if len(inner) != 1:
            raise FrameError("framing", "an envelope must carry exactly one message")
        message = inner[0]
        h = message.headers
        if (h.get(":message-type"), h.get(":event-type"), h.get(":content-type")) != (
            "event",
            "chunk",
            "application/json",
        ):
            raise FrameError("framing", "inner message headers are not an event chunk")
        try:
            event = json.loads(base64.b64decode(json.loads(message.payload)["bytes"]))
        except (ValueError, KeyError, TypeError):
            raise FrameError("framing", "inner payload is not {'bytes': base64 JSON}") from None
        if not isinstance(event, dict):
            raise FrameError("framing", "an event must be a JSON object")
        if self.ended or self.stalled:
            names = list(event.get("event", {})) if isinstance(event, dict) else []
            self.record.events += [str(n) for n in names[:1]]
            if "audioInput" in names:
                # Audio that reaches a server-ended stream is still counted: h2 delivered it.
                data = event["event"]["audioInput"].get("content", "")
                self.record.audio += base64.b64decode(data)
            return
        await conversation.on_event(event)

    async def _check_injections(self, conversation: Conversation) -> None:
        for inj in self.fake.injections:
            if inj.fired or (inj.stream is not None and inj.stream != self.record.number):
                continue
            if len(self.record.audio) < inj.after_audio_bytes or self.ended:
                continue
            inj.fired = True
            self.record.ended_by_server = inj.kind not in ("stall", "deaf")
            conversation.cancel_reply()
            if inj.kind == "exception":
                await self._fail(inj.exception_type, inj.message)
            elif inj.kind == "stall":
                self.stalled = True
                conversation.stopped = True
            elif inj.kind == "deaf":
                self.deaf = True
            elif inj.kind == "reset":
                self.ended = True
                conversation.stopped = True
                with contextlib.suppress(h2.exceptions.ProtocolError):
                    self.conn.h2.reset_stream(self.id, error_code=2)
                await self.conn.flush()
            elif inj.kind == "end_stream":
                conversation.stopped = True
                await self._end()
