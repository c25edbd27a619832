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
the active stream is continued the same way, but audio in flight on it is lost.

Everything is pull driven: the caller's iteration reads the connection; ``send_*`` write
from the caller's task under one lock, which also keeps the chunk signatures in order.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import anyio
from botocore.credentials import ReadOnlyCredentials

from ..base import StreamingSession
from ..errors import ErrorCode, S2SError
from ..events import (
    SessionClosed,
    SessionError,
    SessionEvent,
    SessionReady,
    SessionReconnected,
    ToolCall,
)
from ..types import ConversationContext, Turn
from .faults import status_error
from .history import history_for_handover
from .leg import Leg, inner_message
from .protocol import INPUT_SAMPLE_RATE, NovaProtocol
from .signing import ChunkSigner, sign_request
from .transport import H2Connection

if TYPE_CHECKING:
    from .provider import AmazonNovaSonicProvider

__all__ = ["NovaSession"]

_REPLY_GRACE = 20.0
"""Seconds a due hand-over waits for a reply in progress to finish."""
_RETRY_PAUSE = 5.0
"""Seconds before a refused hand-over is tried again (the current stream carries on)."""


class NovaSession(StreamingSession):
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
        credentials: ReadOnlyCredentials = await provider.credentials.get()
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
        """Graceful end of our side: closing events, a signed empty envelope, END_STREAM."""
        if leg.closing:
            return
        leg.closing = True
        if leg.stream.finished or leg.stream.local_closed:
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
        """Open the first leg and wait until Bedrock accepts it."""
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
            await self._conn.wait_for(lambda: leg.stream.finished)
            raise self._rejected(leg, "connect")
        leg.accepted = True
        self._emit(SessionReady(session_id=self.context.session_id))

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

    # -- receiving ----------------------------------------------------------------------------

    def _has_news(self) -> bool:
        for leg in self._legs:
            stream = leg.stream
            if stream.chunks or stream.finished:
                return True
            if stream.status is not None and not leg.accepted:
                return True  # a continuation stream was answered
        return False

    async def _receive(self) -> Iterable[SessionEvent]:
        while True:
            events = await self._collect()
            if events or self._pending:
                return events
            if not self._legs:
                return [SessionClosed(reason="server ended the session")]
            await self._conn.wait_for(self._has_news)

    async def _collect(self) -> list[SessionEvent]:
        out: list[SessionEvent] = []
        for leg in list(self._legs):
            stream = leg.stream
            if not leg.accepted and stream.status is not None:
                if stream.status != 200:
                    await self._conn.wait_for(lambda s=stream: s.finished)  # type: ignore[misc]
                    out += await self._continuation_failed(leg, self._rejected(leg, "continue"))
                    continue
                leg.accepted = True
                await self._promote()
            try:
                while stream.chunks:
                    out += self._decode(leg, stream.chunks.popleft())
            except S2SError as exc:
                if leg is self._active or leg is self._next:
                    raise
                # A stream already handed over failed while finishing its reply: drop it.
                self._drop(leg)
                await self._conn.reset_stream(leg.stream)
                out.append(SessionError(exc, fatal=False))
                continue
            if stream.finished:
                out += await self._leg_finished(leg)
        return out

    def _drop(self, leg: Leg) -> None:
        if leg in self._legs:
            self._legs.remove(leg)
        self._conn.forget(leg.stream)

    async def _continuation_failed(self, leg: Leg, error: S2SError) -> list[SessionEvent]:
        """The next stream was refused.  If the current one still runs, stay on it (the
        buffered audio goes there) and try again later; otherwise the session is over."""
        self._drop(leg)
        async with self._lock:
            self._next = None
            active = self._active
            if active is None or active.stream.finished or active.closing:
                raise error
            buffered, self._buffer, self._buffered_bytes = self._buffer, [], 0
            for pcm in buffered:
                await self._send_event(active, active.protocol.audio_event(pcm))
            self._not_before = time.monotonic() + _RETRY_PAUSE
        return [SessionError(error, fatal=False)]

    def _decode(self, leg: Leg, data: bytes) -> list[SessionEvent]:
        out = leg.decode(data)
        for event in out:
            if isinstance(event, ToolCall):
                self._tool_legs[event.call_id] = leg
        return out

    async def _leg_finished(self, leg: Leg) -> list[SessionEvent]:
        """A stream ended: drop it, and continue if it was the active one and not ours to end."""
        self._drop(leg)
        if leg.decoder.buffered and leg.stream.reset_code is None:
            # A reset may cut a message short; a clean end inside one is a broken server.
            raise S2SError("receive", ErrorCode.MALFORMED_RESPONSE, "stream ended mid-message")
        if leg is self._next:
            return await self._continuation_failed(leg, self._rejected(leg, "continue"))
        if leg is not self._active or leg.closing or self._closing:
            if leg is self._active:
                return [SessionClosed(reason="closed by client")]
            return []
        # The server ended the active stream on its own: the stream time limit, or a reset.
        how = "ended" if leg.stream.reset_code is None else f"reset ({leg.stream.reset_code})"
        self._cause = S2SError(
            "receive", ErrorCode.STREAM_CLOSED, f"Bedrock stream {leg.number} {how}; continuing"
        )
        async with self._lock:
            if not leg.stream.local_closed:
                await self._conn.end_stream(leg.stream)
            leg.closing = True
            await self._begin_continuation()
        return []
