"""The I/O shell of a Nova Sonic conversation: signed events over HTTP/2, and continuation.

A :class:`NovaSession` owns one HTTP/2 connection and, on it, one or two Bedrock streams
("legs").  Each leg has its own protocol core, chunk signer and event-stream decoder.

Session continuation: Bedrock ends a stream after about eight minutes.  When the active leg
is ``continue_after_seconds`` old (or the server ends it unexpectedly) the session opens the
next leg on the same connection, seeds it with the conversation history as TEXT blocks, and
holds the user's audio in a buffer meanwhile.  Once the next leg is accepted (HTTP 200) the
buffer is flushed into it, the old leg is closed gracefully and keeps being read until the
server finishes it, so the tail of a reply that was playing is not cut.  Each hand-over is
reported as a :class:`~beluga_voice.providers.events.SessionReconnected` event.  A reset of
the active stream is continued the same way, but audio in flight on it is lost; so is a
reply that goes quiet for ``response_timeout`` (its stream is reset).

Every network wait has a deadline: the connection and each stream's answer
(``connect_timeout``, a refusal's body included), every write (``send_timeout``, the wait
for HTTP/2 flow-control credit included), and a reply in progress (``response_timeout``).
Only the wait for the next turn is unbounded: the service owes nothing then.

Everything is pull driven: the caller's iteration reads the connection; ``send_*`` write
from the caller's task under one lock, which also keeps the chunk signatures in order.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import anyio
from botocore.credentials import ReadOnlyCredentials

from ...conversation import ConversationContext, Turn
from ..base import StreamingSession
from ..errors import ErrorCode, S2SError
from ..events import (
    SessionReady,
    SessionReconnected,
)
from .faults import status_error
from .history import history_for_handover
from .leg import Leg, inner_message
from .protocol import INPUT_SAMPLE_RATE, NovaProtocol
from .receiving import NovaReceiving
from .signing import ChunkSigner, sign_request
from .transport import H2Connection

if TYPE_CHECKING:
    from .provider import AmazonNovaSonicProvider

__all__ = ["NovaSession"]

_REPLY_GRACE = 20.0
"""Seconds a due hand-over waits for a reply in progress to finish."""


class NovaSession(NovaReceiving, StreamingSession):
    """A live conversation with Nova Sonic (see the module docstring)."""

    def __init__(
        self,
        provider: AmazonNovaSonicProvider,
        context: ConversationContext,
        conn: H2Connection,
    ) -> None:
        super().__init__(provider.name, context)
        self._provider = provider
        self._settings = provider.settings
        self._conn = conn
        self._lock = anyio.Lock()
        self._legs: list[Leg] = []  # oldest first; the last accepted one is active
        self._active: Leg | None = None
        self._next: Leg | None = None
        self._buffer: list[bytes] = []
        self._buffered_bytes = 0
        self._leg_count = 0
        self.continuations = 0
        self._cause: S2SError | None = None
        self._tool_legs: dict[str, Leg] = {}
        self._not_before = 0.0  # no time-based hand-over before this (after a refusal)
        self.history: list[Turn] = list(context.history)
        """What was said, as this session heard it: seeds continuation streams."""

    # -- legs -------------------------------------------------------------------------------

    async def _open_leg(self, *, handover: bool) -> Leg:
        """Open a stream and send its opening events (caller holds ``_lock``)."""
        provider = self._provider
        timeout = self._settings.connect_timeout
        try:
            # The chain may ask the network (instance metadata, SSO, STS): bounded too.
            with anyio.fail_after(timeout):
                credentials: ReadOnlyCredentials = await provider.credentials.get()
        except TimeoutError:
            raise S2SError(
                "credentials", ErrorCode.TIMEOUT, f"no AWS credentials within {timeout:g} s"
            ) from None
        signed = sign_request(credentials, self._settings.region, provider.url)
        stream = await self._conn.open_stream(provider.path, signed.headers)
        self._leg_count += 1
        leg = Leg(
            number=self._leg_count,
            stream=stream,
            protocol=NovaProtocol(
                self._settings,
                self.history,
                external_reasoning=provider.config.reasoning_mode == "external",
            ),
            signer=ChunkSigner(credentials, self._settings.region, signed.signature),
        )
        self._legs.append(leg)
        history = (
            history_for_handover(self.history, self._settings.max_history_chars) if handover else []
        )
        for event in leg.protocol.opening_events(history):
            await self._send_event(leg, event)
        return leg

    async def _send_event(self, leg: Leg, event: dict[str, Any]) -> None:
        envelope = leg.signer.sign(inner_message(event))
        await self._conn.send_data(leg.stream, envelope)

    async def _close_leg(self, leg: Leg) -> None:
        """Graceful end of our side, as AWS documents it: the closing events still due
        (``contentEnd`` of the open audio block, ``promptEnd``, ``sessionEnd``), the signed
        empty envelope that ends the event stream, then END_STREAM.

        Also when the server has already ended its side: the request body is ours to
        finish.  Only a reset stream (nothing can be sent on it) just ends quietly.
        """
        if leg.closing:
            return
        leg.closing = True
        if leg.stream.reset_code is not None or leg.stream.local_closed:
            await self._conn.end_stream(leg.stream)
            return
        try:
            for event in leg.protocol.closing_events():
                await self._send_event(leg, event)
            await self._conn.send_data(leg.stream, leg.signer.sign(b""))
        except S2SError:
            pass  # the stream died under us: nothing left to close politely
        await self._conn.end_stream(leg.stream)

    async def start(self) -> None:
        """Open the first leg and wait until Bedrock accepts it (``connect_timeout``)."""
        async with self._lock:
            leg = await self._open_leg(handover=bool(self.history))
            self._active = leg
        timeout = self._settings.connect_timeout
        with anyio.move_on_after(timeout) as scope:
            await self._conn.wait_for(lambda: leg.stream.status is not None or leg.stream.finished)
        if scope.cancelled_caught:
            raise S2SError(
                "connect", ErrorCode.TIMEOUT, f"no response from Bedrock in {timeout:g} s"
            )
        if leg.stream.status != 200:
            raise await self._refused(leg, "connect")
        leg.accepted = True
        self._emit(SessionReady(session_id=self.context.session_id))

    async def _refused(self, leg: Leg, op: str) -> S2SError:
        """The error of a refused stream, read from its status, headers and JSON body.

        The body normally comes with the status; a response that stays open is waited for
        ``connect_timeout`` at most, then reset, and the error is built from what came.
        """
        stream = leg.stream
        with anyio.move_on_after(self._settings.connect_timeout):
            await self._conn.wait_for(lambda: stream.finished)
        if stream.finished:
            await self._conn.end_stream(stream)  # the request body ends here too
        else:
            await self._conn.reset_stream(stream)
        return self._rejected(leg, op)

    def _rejected(self, leg: Leg, op: str) -> S2SError:
        stream = leg.stream
        body = b"".join(stream.chunks)
        stream.chunks.clear()
        if stream.status is None:
            return S2SError(op, ErrorCode.STREAM_CLOSED, f"stream reset ({stream.reset_code})")
        return status_error(op, stream.status, stream.headers.get("x-amzn-errortype", ""), body)

    async def _begin_continuation(self) -> None:
        """Open the next leg; audio is buffered until it is accepted (holds ``_lock``)."""
        if self._next is not None or self._closing:
            return
        self._next = await self._open_leg(handover=True)

    async def _promote(self) -> None:
        """Switch to the accepted next leg: flush buffered audio, close the old leg."""
        async with self._lock:
            new = self._next
            if new is None or not new.accepted:
                return
            old, self._active, self._next = self._active, new, None
            self.continuations += 1
            buffered, flushed = self._buffer, self._buffered_bytes
            self._buffer, self._buffered_bytes = [], 0
            for pcm in buffered:
                await self._send_event(new, new.protocol.audio_event(pcm))
            if old is not None:
                await self._close_leg(old)
            cause, self._cause = self._cause, None
            self._emit(
                SessionReconnected(
                    self.provider_name, self.continuations, error=cause, replayed_bytes=flushed
                )
            )

    async def continue_now(self) -> None:
        """Hand the conversation over to a fresh stream now (e.g. at a quiet moment).

        Returns once the next stream is opened; audio is buffered until Bedrock accepts it,
        which the session's iteration notices.
        """
        self._check_open("continue_now")
        async with self._lock:
            await self._begin_continuation()

    def _due(self, leg: Leg) -> bool:
        """Time to hand over: at ``continue_after_seconds``, once the current reply (or tool
        call) is over, but no more than ``_REPLY_GRACE`` seconds later in any case."""
        age = time.monotonic() - leg.opened_at
        limit = self._settings.continue_after_seconds
        if age < limit or time.monotonic() < self._not_before:
            return False
        return not leg.protocol.responding or age >= limit + _REPLY_GRACE

    # -- sending ------------------------------------------------------------------------------

    def _check_open(self, op: str) -> None:
        if self._closing or self.closed:
            raise S2SError(op, ErrorCode.STREAM_CLOSED, "amazon_nova: session closed")

    async def send_audio(self, audio: bytes) -> None:
        """Send PCM16 mono 16 kHz; buffered while a continuation stream opens."""
        self._check_open("send_audio")
        if len(audio) % 2:
            raise S2SError("send_audio", ErrorCode.INVALID_AUDIO_FORMAT, "odd byte count for PCM16")
        if not audio:
            return
        async with self._lock:
            leg = self._active
            if leg is None:
                raise S2SError("send_audio", ErrorCode.STREAM_CLOSED, "amazon_nova: no stream")
            if self._next is None and (self._due(leg) or leg.stream.finished):
                await self._begin_continuation()
            if self._next is not None:
                limit = self._settings.max_buffered_seconds * INPUT_SAMPLE_RATE * 2
                if self._buffered_bytes + len(audio) > limit:
                    raise S2SError(
                        "send_audio",
                        ErrorCode.STREAM_ERROR,
                        "amazon_nova: continuation stream not accepted in time",
                    )
                self._buffer.append(bytes(audio))
                self._buffered_bytes += len(audio)
                return
            await self._send_event(leg, leg.protocol.audio_event(audio))

    async def _send_events(self, op: str, make: Any) -> None:
        self._check_open(op)
        async with self._lock:
            leg = self._next or self._active
            if leg is None:
                raise S2SError(op, ErrorCode.STREAM_CLOSED, "amazon_nova: no stream")
            for event in make(leg.protocol):
                await self._send_event(leg, event)

    async def send_text(self, text: str) -> None:
        """A typed user message (Nova 2 Sonic only)."""
        if self._settings.model_id != "amazon.nova-2-sonic-v1:0":
            raise S2SError(
                "send_text", ErrorCode.UNSUPPORTED_OPERATION, "text input needs Nova 2 Sonic"
            )
        await self._send_events("send_text", lambda p: p.text_events(text))
        self.history.append(Turn("user", text))

    async def speak(self, text: str) -> None:
        """Voice ``text`` verbatim (external reasoning; Nova 2 Sonic only)."""
        if self._settings.model_id != "amazon.nova-2-sonic-v1:0":
            raise S2SError("speak", ErrorCode.UNSUPPORTED_OPERATION, "speak needs Nova 2 Sonic")
        if not text.strip():
            raise S2SError("speak", ErrorCode.INVALID_INPUT, "nothing to say")
        await self._send_events("speak", lambda p: p.speak_events(text))

    async def send_tool_result(self, call_id: str, output: str) -> None:
        """Answer a ToolCall with a TOOL content block, on the stream that asked for it.

        If that stream has been handed over meanwhile, the result can no longer be given to
        the model as a tool answer; it is kept in the history the next stream is seeded with.
        """
        self._check_open("send_tool_result")
        async with self._lock:
            leg = self._tool_legs.pop(call_id, None) or self._active
            if leg is None or leg not in self._legs or leg.closing:
                self.history.append(Turn("assistant", f"(tool result) {output}"))
                return
            for event in leg.protocol.tool_result_events(call_id, output):
                await self._send_event(leg, event)

    async def end_turn(self) -> None:
        """Nova detects turns itself; trailing silence lets its detector close the turn."""
        ms = self._settings.end_turn_silence_ms
        chunk = b"\x00\x00" * (INPUT_SAMPLE_RATE // 50)
        for _ in range(ms // 20):
            await self.send_audio(chunk)

    async def interrupt(self, played_ms: float | None = None) -> None:
        """Barge-in is detected by Nova; we only trim our history to what was heard."""
        if self._active is not None:
            self._active.protocol.truncate_heard(played_ms)

    async def _close(self) -> None:
        try:
            with anyio.CancelScope(shield=True):
                async with self._lock:
                    for leg in self._legs:
                        await self._close_leg(leg)
                # Give the server a moment to finish its side, so it sees a clean end.
                with anyio.move_on_after(1.0):
                    await self._conn.wait_for(lambda: all(g.stream.finished for g in self._legs))
        except S2SError:
            pass
        finally:
            await self._conn.aclose()
