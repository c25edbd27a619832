"""The receiving half of a Nova session: reading its streams, hand-over, stalls.

A mixin of :class:`~.session.NovaSession`, kept apart so that each half reads on its own:
this one turns what arrives on the session's streams ("legs") into session events, notices
a continuation stream's answer, a stream the server ended, and a reply that went quiet.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

import anyio

from ..errors import ErrorCode, S2SError
from ..events import ResponseDone, SessionClosed, SessionError, SessionEvent, ToolCall
from .leg import Leg
from .settings import NovaSettings
from .transport import H2Connection

if TYPE_CHECKING:
    from collections import deque

__all__ = ["RETRY_PAUSE", "NovaReceiving"]

RETRY_PAUSE = 5.0
"""Seconds before a refused hand-over is tried again (the current stream carries on)."""


class NovaReceiving:
    """Mixin of :class:`~.session.NovaSession`: the attributes and methods declared below
    belong to it, and are declared here only so that this half is type-checked."""

    _settings: NovaSettings
    _conn: H2Connection
    _lock: anyio.Lock
    _legs: list[Leg]
    _active: Leg | None
    _next: Leg | None
    _buffer: list[bytes]
    _buffered_bytes: int
    _cause: S2SError | None
    _tool_legs: dict[str, Leg]
    _not_before: float
    _closing: bool

    if TYPE_CHECKING:
        _pending: deque[SessionEvent]

        async def _promote(self) -> None: ...

        async def _refused(self, leg: Leg, op: str) -> S2SError: ...

        def _rejected(self, leg: Leg, op: str) -> S2SError: ...

        async def _close_leg(self, leg: Leg) -> None: ...

        async def _begin_continuation(self) -> None: ...

        async def _send_event(self, leg: Leg, event: dict[str, object]) -> None: ...

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
            with anyio.move_on_after(self._stall_in()) as scope:
                await self._conn.wait_for(self._has_news)
            if scope.cancelled_caught:
                await self._stalled()

    def _stall_in(self) -> float:
        """Seconds the wire may stay quiet: ``response_timeout`` during a reply (or a
        handed-over stream finishing one); unbounded when nothing is owed to us."""
        now = time.monotonic()
        deadlines = [
            leg.heard_at + self._settings.response_timeout - now
            for leg in self._legs
            if leg.accepted and leg.protocol.responding and not leg.stream.finished
        ]
        return max(0.0, min(deadlines)) if deadlines else math.inf

    async def _stalled(self) -> None:
        """A reply went quiet for ``response_timeout``: reset its stream.  The active one is
        then continued on a fresh stream (see :meth:`_leg_finished`); an old one is dropped."""
        now = time.monotonic()
        for leg in list(self._legs):
            quiet = now - leg.heard_at >= self._settings.response_timeout
            if leg.accepted and leg.protocol.responding and quiet and not leg.stream.finished:
                leg.stalled = True
                await self._conn.reset_stream(leg.stream)

    async def _collect(self) -> list[SessionEvent]:
        out: list[SessionEvent] = []
        for leg in list(self._legs):
            stream = leg.stream
            if not leg.accepted and stream.status is not None:
                if stream.status != 200:
                    error = await self._refused(leg, "continue")
                    out += await self._continuation_failed(leg, error)
                    continue
                leg.accepted = True
                await self._promote()
            if stream.chunks:
                leg.heard_at = time.monotonic()
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
        buffered audio goes there) and try again later -- or, for a refusal that cannot
        change (``invalid_request``), only when the current stream ends; otherwise the
        session is over.  Our side of the refused stream is ended (or reset if it stays
        open), so that it does not linger half-open on the connection."""
        self._drop(leg)
        if leg.stream.reset_code is None and not leg.stream.local_closed:
            if leg.stream.finished:
                await self._conn.end_stream(leg.stream)
            else:
                await self._conn.reset_stream(leg.stream)
        async with self._lock:
            self._next = None
            active = self._active
            if active is None or active.stream.finished or active.closing:
                raise error
            buffered, self._buffer, self._buffered_bytes = self._buffer, [], 0
            for pcm in buffered:
                await self._send_event(active, active.protocol.audio_event(pcm))
            pause = RETRY_PAUSE if error.is_retryable else math.inf
            self._not_before = time.monotonic() + pause
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
        # The server ended the active stream on its own (the stream time limit), reset it,
        # or we reset it because it stalled.  Our side is closed as documented, and the
        # conversation moves on to the next stream.
        events: list[SessionEvent] = []
        if leg.stalled:
            how, code = (
                f"stalled for {self._settings.response_timeout:g} s",
                ErrorCode.STREAM_TIMEOUT,
            )
        elif leg.stream.reset_code is None:
            how, code = "ended", ErrorCode.STREAM_CLOSED
        else:
            how, code = f"reset ({leg.stream.reset_code})", ErrorCode.STREAM_CLOSED
        self._cause = S2SError("receive", code, f"Bedrock stream {leg.number} {how}; continuing")
        if leg.protocol.responding:  # the reply in progress is cut short
            leg.protocol.responding = False
            events.append(ResponseDone(leg.protocol.response_id, "failed", "disconnected"))
        async with self._lock:
            await self._close_leg(leg)
            await self._begin_continuation()
        return events
