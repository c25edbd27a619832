"""What :class:`~.Retry` and :class:`~.Fallback` share: hosting the wrapped processors,
the journal of the turn in progress, failure, stall and latency detection, and the replay
that never cuts a reply silently.

The wrapper sits in the pipeline; the processors it wraps do not (see
:mod:`beluga_voice.pipeline.hosted`).  Frames coming in are journaled (the inputs of the
unit of work in progress) and handed to the *active* processor; what it pushes comes back
here first: its errors are failures to heal, its reply frames time the reply, and the
rest passes on.  Outputs of a processor that is not active (a failed one still finishing,
one being started or probed) are dropped.

A failure is detected where it happens (an ErrorFrame pushed by the active processor, a
deadline) and healed by one task of the wrapper's own, which subclasses drive through
:meth:`_recover`: frames keep being journaled meanwhile, and are replayed in order to the
processor that takes over, so no user input is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial

import anyio

from ...frames import (
    CancelFrame,
    Direction,
    EndFrame,
    ErrorFrame,
    Frame,
    InterruptionFrame,
    OutputAudioFrame,
    ResponseStartFrame,
    SpeakFrame,
    StartFrame,
    TextFrame,
    ToolCallFrame,
    TranscriptionFrame,
)
from ...pipeline.hosted import Hosted
from ...pipeline.processor import FrameProcessor
from ...providers.errors import RETRYABLE_CODES, ErrorCode
from .policy import FrameJournal, ResiliencePolicy

__all__ = ["Failure", "WrappingProcessor"]

log = logging.getLogger("beluga_voice.resilience")

_DOWN = Direction.DOWNSTREAM
_UP = Direction.UPSTREAM
_REPLY = (
    OutputAudioFrame,
    TextFrame,
    TranscriptionFrame,
    SpeakFrame,
    ToolCallFrame,
    ResponseStartFrame,
)
# Errors caused by what the caller sent: another attempt or processor fails the same way.
_CALLER_CODES = frozenset(
    {ErrorCode.INVALID_AUDIO_FORMAT, ErrorCode.INVALID_INPUT, ErrorCode.UNSUPPORTED_OPERATION}
)


class Failure:
    """What went wrong with the active processor: an error it pushed, or a deadline."""

    __slots__ = ("error", "index", "reason")

    def __init__(self, index: int, reason: str, error: ErrorFrame | None = None) -> None:
        self.index = index
        self.reason = reason
        self.error = error

    @property
    def code(self) -> str:
        if self.error is not None:
            return self.error.code
        return ErrorCode.STREAM_TIMEOUT.value if self.reason == "stall" else "timeout"

    @property
    def fatal(self) -> bool:
        return self.error is not None and self.error.fatal

    @property
    def retryable(self) -> bool:
        return self.error is None or self.code in {c.value for c in RETRYABLE_CODES}

    @property
    def caused_by_caller(self) -> bool:
        return self.code in {c.value for c in _CALLER_CODES}

    def describe(self, name: str) -> str:
        if self.error is not None:
            return self.error.message
        return f"{name}: {'reply stalled' if self.reason == 'stall' else 'no reply in time'}"


class WrappingProcessor(FrameProcessor):
    """Base of the wrapping processors; see the module docstring."""

    def __init__(
        self, processors: Sequence[FrameProcessor], policy: ResiliencePolicy, name: str
    ) -> None:
        super().__init__(name=name)
        if not processors:
            raise ValueError(f"{type(self).__name__} needs at least one processor")
        self.policy = policy
        self.hosts = [Hosted(p, partial(self._from_inner, i)) for i, p in enumerate(processors)]
        self.active = 0
        self.journal = FrameJournal(policy.journal_bytes, policy.journal_frames)
        self.failure: Failure | None = None
        self.recoveries = 0
        self._start: StartFrame | None = None
        self._start_sent = False
        self._lock = anyio.Lock()
        self._changed = anyio.Event()
        self._errors: dict[int, ErrorFrame] = {}
        # The unit of work in progress.
        self._awaiting_since: float | None = None
        self._replying = False
        self._last_reply_at = 0.0
        self._reply_ms = 0.0
        self._passed: set[int] = set()
        """Journaled inputs the active processor already passed on (by id)."""

    @property
    def wrapped(self) -> list[FrameProcessor]:
        """The processors this one runs (S2S ones merged into one, see :mod:`.s2s`)."""
        return [h.processor for h in self.hosts]

    # -- frames in ------------------------------------------------------------------------------

    async def on_start(self, frame: StartFrame) -> None:
        self._start = frame
        for host in self.hosts:
            host.adopt(self)
        self.create_task(self._watch, name=f"{self.name}.watch")

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if direction is _UP:
            async with self._lock:
                await self.hosts[self.active].handle(frame, direction)
            return
        if isinstance(frame, EndFrame | CancelFrame):
            await self._finish(frame)
            return
        # Journal and hand over as one step: a recovery (which holds the lock while it
        # replays) sees each frame either in the journal or after, never both.
        async with self._lock:
            if isinstance(frame, InterruptionFrame):
                self._turn_over()
            elif self.journal.keeps(frame) and not isinstance(frame, StartFrame):
                self.journal.append(frame)
                if not self._replying and self.policy.turn_end(frame):
                    self._awaiting_since = anyio.current_time()
                    self._changed.set()
            if self.failure is None:
                await self.hosts[self.active].handle(frame, direction)
            # else: journaled; the recovery replays it to whoever takes over

    async def _finish(self, frame: Frame) -> None:
        """End or Cancel: the processors not in use stop quietly, the active one passes
        the frame on.  A recovery still pending is abandoned, and said so."""
        failure, self.failure = self.failure, None
        if failure is not None and self.journal.has_work():
            await self._give_up(failure, f"{self.name}: stopped before it could recover")
        for i, host in enumerate(self.hosts):
            if i != self.active and host.started:
                await host.stop(frame)
        await self.hosts[self.active].handle(frame, _DOWN)

    async def on_cleanup(self) -> None:
        for host in self.hosts:
            await host.cleanup()

    # -- frames out -----------------------------------------------------------------------------

    async def _from_inner(self, index: int, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, ErrorFrame) and direction is _UP:
            self._errors[index] = frame
            if index == self.active and self.failure is None:
                await self._on_error(Failure(index, "error", frame))
            return
        if index != self.active or (self.failure is not None and self.failure.index == index):
            return  # a processor not (or no longer) serving: its output is not heard
        if isinstance(frame, StartFrame):
            if self._start_sent:
                return  # a restart's StartFrame: the pipeline started long ago
            self._start_sent = True
        elif direction is _DOWN:
            passed = frame in self.journal
            if passed:  # an input passed on: once, even when the turn is replayed
                if id(frame) in self._passed:
                    return
                self._passed.add(id(frame))
            self._on_output(frame, produced=not passed)
            if self.policy.turn_done(frame):
                self._turn_over()
                self._on_turn_done()
        await self.push_frame(frame, direction)

    def _on_output(self, frame: Frame, *, produced: bool) -> None:
        if produced and isinstance(frame, _REPLY):
            self._replying = True
            self._awaiting_since = None
            self._last_reply_at = anyio.current_time()
            if isinstance(frame, OutputAudioFrame):
                self._reply_ms += 1000.0 * len(frame.audio) / (2 * frame.sample_rate)

    def _turn_over(self) -> None:
        self.journal.clear()
        self._passed.clear()
        self._awaiting_since = None
        self._replying = False
        self._reply_ms = 0.0
        self._changed.set()

    def _on_turn_done(self) -> None:
        """A unit of work completed on the active processor (subclasses reset counters)."""

    async def _on_error(self, failure: Failure) -> None:
        if failure.caused_by_caller or not self._heals(failure):
            assert failure.error is not None
            await self.push_frame(failure.error, _UP)  # not ours to heal: pass it on
            return
        log.info("%s: %s failed (%s)", self.name, self.hosts[failure.index].name, failure.code)
        self._fail(failure)

    def _heals(self, failure: Failure) -> bool:
        """Is this failure one the wrapper heals (else the error passes on)?"""
        return failure.retryable

    def _fail(self, failure: Failure) -> None:
        if self.failure is None:
            self.failure = failure
            self._changed.set()

    # -- the watcher: deadlines and recovery ---------------------------------------------------

    def _deadline(self) -> float:
        p, deadlines = self.policy, []
        if p.first_reply_timeout is not None and self._awaiting_since is not None:
            deadlines.append(self._awaiting_since + p.first_reply_timeout)
        if p.stall_timeout is not None and self._replying:
            deadlines.append(self._last_reply_at + p.stall_timeout)
        extra = self._extra_deadline()
        if extra is not None:
            deadlines.append(extra)
        return min(deadlines, default=float("inf"))

    def _extra_deadline(self) -> float | None:
        return None

    async def _on_extra_deadline(self) -> None:
        """Subclass hook: the :meth:`_extra_deadline` passed (a probe is due)."""

    async def _watch(self) -> None:
        while True:
            self._changed = anyio.Event()
            failure = self.failure
            if failure is not None:
                await self._recover(failure)
                self.recoveries += 1
                continue
            now = anyio.current_time()
            p = self.policy
            if (
                p.stall_timeout is not None
                and self._replying
                and now >= self._last_reply_at + p.stall_timeout
            ):
                self._fail(Failure(self.active, "stall"))
                continue
            if (
                p.first_reply_timeout is not None
                and self._awaiting_since is not None
                and now >= self._awaiting_since + p.first_reply_timeout
            ):
                self._awaiting_since = None
                await self._on_slow(Failure(self.active, "latency"))
                continue
            extra = self._extra_deadline()
            if extra is not None and now >= extra:
                await self._on_extra_deadline()
                continue
            with anyio.move_on_after(self._deadline() - now):
                await self._changed.wait()

    async def _on_slow(self, failure: Failure) -> None:
        """No first reply within ``first_reply_timeout`` (Fallback switches; Retry waits)."""

    async def _recover(self, failure: Failure) -> None:
        raise NotImplementedError

    # -- healing --------------------------------------------------------------------------------

    async def _give_up(self, failure: Failure, message: str) -> None:
        """Healing failed: the app hears it once, the turn is over, work goes on."""
        self.failure = None
        self._turn_over()
        error = ErrorFrame(
            message,
            code=failure.code,
            fatal=failure.fatal,
            source=self.name,
            cause=failure.error.cause if failure.error is not None else None,
        )
        await self.push_frame(error, _UP)

    async def _reset(self, index: int, failure: Failure | None) -> bool:
        """Make processor ``index`` ready for work: restarted after a fatal failure (or if
        it is not running), else told to drop what it was doing.  False if it failed."""
        host = self.hosts[index]
        self._errors.pop(index, None)
        if self._start is not None and (not host.started or (failure and failure.fatal)):
            await host.restart(self._start)
        elif failure is not None:
            await host.handle(InterruptionFrame(), _DOWN)
        error = self._errors.get(index)
        return error is None or not error.fatal

    async def _replay(self, failure: Failure | None) -> bool:
        """Give the journaled turn to the active processor, unless the user already heard
        too much of its reply: then the app is told (``reply_cut``) and the turn is over.
        Returns whether the turn was replayed."""
        if self._reply_ms > 0:
            heard_ms = self._reply_ms
            if heard_ms >= 1000.0 * self.policy.replay_cut_reply_under:
                self._turn_over()
                why = failure.describe(self.name) if failure is not None else "a switch"
                await self.push_frame(
                    ErrorFrame(
                        f"{self.name}: reply cut after {heard_ms:.0f} ms by {why}; "
                        "not answered again",
                        code=ErrorCode.REPLY_CUT.value,
                        source=self.name,
                    ),
                    _UP,
                )
                return False
            await self.push_frame(InterruptionFrame(), _DOWN)  # flush the cut beginning
            self._reply_ms = 0.0
            self._passed.clear()  # the answer starts over, its inputs pass on again
        self._replying = False
        host = self.hosts[self.active]
        frames = list(self.journal)
        for frame in frames:
            await host.handle(frame, _DOWN)
            if not self._replying and self.policy.turn_end(frame):
                self._awaiting_since = anyio.current_time()
        return bool(frames)
