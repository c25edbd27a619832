"""The engine's side of a processor: its task loop, lifecycle dispatch, error reports,
cleanup, the tasks it runs beside, and the functions the runner and hosting drive it with.

Why apart from ``processor.py``: that module is what a processor's author reads (the
hooks to implement, ``push_frame`` and the other calls to make); this one is how the
engine runs what they wrote, which an author never calls.  :class:`ProcessorEngine` is
the base of :class:`~beluga_voice.pipeline.FrameProcessor` and of nothing else; its
state is made by ``FrameProcessor.__init__`` and declared here, where it is used, and
the two share their underscore members as the one object they make (the ``_fp_``
prefix keeps those clear of a subclass's own names).  The runner (``task.py``),
composition (``compose.py``) and hosting (``hosted.py``) reach a processor only through
the functions at the end of this module.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

import anyio

from ..frames import (
    CancelFrame,
    Direction,
    EndFrame,
    ErrorFrame,
    Frame,
    FrameKind,
    InterruptionFrame,
    StartFrame,
)
from .handoff import Door, InContext, Rest
from .inbox import Inbox
from .node import Node, Outlet

if TYPE_CHECKING:
    from .observer import FrameObserver
    from .setup import Setup

__all__ = [
    "ProcessorEngine",
    "attach",
    "handle",
    "inbox_of",
    "release",
    "reset",
    "run_processor",
    "setup_of",
]

log = logging.getLogger("beluga_voice.pipeline")

_DOWN: Final = Direction.DOWNSTREAM
_UP: Final = Direction.UPSTREAM
_DATA: Final = FrameKind.DATA


class ProcessorEngine(Node):
    """What the engine runs in every :class:`~beluga_voice.pipeline.FrameProcessor`.

    See the module docstring: the base of ``FrameProcessor`` only, never used alone.
    """

    # The state, made by FrameProcessor.__init__ (see there for what each holds).
    direct_handoff: bool
    current_frame: Frame | None
    stopped: bool
    cancelled: bool
    frames_dropped: int
    _capacity: int | None
    _fp_inbox: Inbox | None
    _fp_down: Outlet | None
    _fp_up: Outlet | None
    _setup: Setup | None
    _observers: tuple[FrameObserver, ...]
    _scopes: set[anyio.CancelScope]
    _door: Door
    _fp_cleaned: bool

    if TYPE_CHECKING:  # the hooks the engine calls: FrameProcessor's API for subclasses

        async def process_frame(self, frame: Frame, direction: Direction) -> None: ...
        async def on_start(self, frame: StartFrame) -> None: ...
        async def on_end(self) -> None: ...
        async def on_stop(self) -> None: ...
        async def on_interruption(self) -> None: ...
        async def on_cleanup(self) -> None: ...

    def _ensure_inbox(self, default_capacity: int = 64) -> Inbox:
        if self._fp_inbox is None:
            self._fp_inbox = self._door.inbox = Inbox(
                self._capacity or default_capacity, door=self._door
            )
        return self._fp_inbox

    async def _fp_guarded(self, func: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> None:
        with anyio.CancelScope() as scope:
            self._scopes.add(scope)
            try:
                await func(*args)
            except Exception as exc:
                await self._fp_fail(exc, None)
            finally:
                self._scopes.discard(scope)

    async def _fp_fail(self, exc: Exception, frame: Frame | None, *, fatal: bool = False) -> None:
        what = f" handling {type(frame).__name__}" if frame is not None else ""
        await self._fp_report(exc, what, fatal)

    def _fp_error(
        self, exc: BaseException, what: str, fatal: bool, code: str | None = None
    ) -> ErrorFrame:
        """The ErrorFrame telling ``exc``, noted by the runner at once (even mid-shutdown)."""
        code = code or str(getattr(exc, "code", "internal_error"))
        err = ErrorFrame(
            f"{self.name} raised {type(exc).__name__}{what}: {exc}",
            code=code,
            fatal=fatal,
            source=self.name,
            cause=exc,
        )
        log.warning("%s", err.message, exc_info=exc if log.isEnabledFor(logging.DEBUG) else None)
        report = self._setup.report_error if self._setup is not None else None
        if report is not None:
            report(err)
        return err

    async def _fp_report(self, exc: Exception, what: str, fatal: bool) -> None:
        err = self._fp_error(exc, what, fatal)
        if self._fp_up is not None:
            await self._fp_up.put(err, _UP)

    async def _fp_cleanup(self) -> None:
        """Run :meth:`on_cleanup` once, shielded, within ``cleanup_timeout``."""
        if self._fp_cleaned:
            return
        self._fp_cleaned = True
        timeout = self._fp_cleanup_timeout
        with anyio.CancelScope(shield=True) as scope:
            scope.deadline = anyio.current_time() + timeout
            try:
                await self.on_cleanup()
            except Exception as exc:
                self._fp_error(exc, " cleaning up", False)
        if scope.cancelled_caught:
            late = TimeoutError(f"not done within {timeout:g} s; what it holds may leak")
            self._fp_error(late, " cleaning up", False, code="timeout")

    async def _fp_stop_once(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        try:
            await self.on_stop()
        finally:
            for scope in list(self._scopes):
                scope.cancel()

    async def _fp_handle(self, frame: Frame, direction: Direction) -> None:
        """Lifecycle hooks, then :meth:`process_frame` (data frames go straight there)."""
        if isinstance(frame, StartFrame) and direction is _DOWN:
            try:
                await self.on_start(frame)
            except Exception as exc:
                await self._fp_fail(exc, frame, fatal=True)
                return
        elif isinstance(frame, (EndFrame, CancelFrame)) and direction is _DOWN:
            try:
                if isinstance(frame, EndFrame) and not self.stopped:
                    await self.on_end()
                await self._fp_stop_once()
            except Exception as exc:
                await self._fp_fail(exc, frame)
        elif isinstance(frame, InterruptionFrame):
            await self.on_interruption()
        await self.process_frame(frame, direction)

    async def _fp_priority(self, inbox: Inbox, frame: Frame, direction: Direction) -> None:
        """A frame from the priority lane: an interruption or a cancel flushes first."""
        if isinstance(frame, InterruptionFrame):
            self.frames_dropped += inbox.flush()
        elif isinstance(frame, CancelFrame):
            self.cancelled = True
            self.frames_dropped += inbox.flush(everything=True)
        await self._fp_guard(frame, direction)

    async def _fp_guard(self, frame: Frame, direction: Direction) -> None:
        self.current_frame = frame
        try:
            await self._fp_handle(frame, direction)
        except Exception as exc:
            await self._fp_fail(exc, frame)
        finally:
            self.current_frame = None

    async def _fp_finish(self, rest: Rest) -> None:
        try:
            await rest
        except Exception as exc:
            await self._fp_fail(exc, rest.frame)
        finally:
            self.current_frame = None

    @property
    def _fp_cleanup_timeout(self) -> float:
        return self._setup.cleanup_timeout if self._setup is not None else 1.0

    def _fp_attach(self, setup: Setup) -> None:
        self._setup = setup
        self._observers = setup.observers
        if not setup.direct_handoff:
            self.direct_handoff = False

    async def _fp_run(self, setup: Setup) -> None:
        """Run the processor's loop in a context of its own (see ``handoff.InContext``)."""
        self._fp_attach(setup)
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # another anyio backend: frames always queue
            loop = None
        ctx = contextvars.copy_context()
        self._door.seat(loop if self.direct_handoff else None, ctx)
        try:
            await InContext(self._fp_loop(self._ensure_inbox()), ctx)
        finally:  # cancelled, as a rule: on_cleanup runs whether on_stop ran or not
            await InContext(self._fp_cleanup(), ctx)

    async def _fp_loop(self, inbox: Inbox) -> None:
        """Carried-over handlers first, then the priority lane, spared frames, data."""
        prio = inbox.priority_lane
        data = inbox.data_lane
        spared = inbox.spared
        guard = self._fp_guard
        process = self.process_frame
        door = self._door
        on_idle = self._setup.on_idle if self._setup is not None else None
        while True:
            rest = door.rest
            if rest is not None:  # a frame handed over directly whose handler suspended
                door.rest = None
                await self._fp_finish(rest)
                continue
            if inbox.prio_count:
                try:
                    frame, direction = prio.receive_nowait()
                except anyio.WouldBlock:  # pragma: no cover - counted but not yet sent
                    pass
                else:
                    inbox.prio_count -= 1
                    await self._fp_priority(inbox, frame, direction)
                    continue
            if spared:
                await guard(spared.popleft(), _DOWN)
                continue
            if inbox.data_in == inbox.data_out:  # empty: no exception needed to find out
                if on_idle is not None:
                    on_idle()
                door.open = door.turn is not None and not inbox.sending
                try:
                    await inbox.wait()
                except BaseException as exc:  # a cancellation, as a rule
                    if door.rest is None:
                        raise
                    # It struck after a handler suspended in a hand-off and before this task
                    # took it over: it is meant for that handler (say, its timeout).
                    door.rest.pending = exc
                finally:
                    door.open = False
                continue
            try:
                item = data.receive_nowait()
            except anyio.WouldBlock:  # pragma: no cover - a sender not yet counted
                await inbox.wait()
                continue
            inbox.data_out += 1
            if self.cancelled:  # after a cancel nothing more flows down
                self.frames_dropped += 1
                continue
            if item.kind is not _DATA:
                await guard(item, _DOWN)
                continue
            # The hot path, inlined: a data frame needs no lifecycle checks.
            self.current_frame = item
            try:
                await process(item, _DOWN)
            except Exception as exc:
                await self._fp_fail(exc, item)
            self.current_frame = None


# -- the engine's interface to a processor -----------------------------------------------------
# The runner (task.py), composition (compose.py) and hosting (hosted.py) reach a processor
# only through these.


def inbox_of(proc: ProcessorEngine, capacity: int | None = None) -> Inbox:
    """``proc``'s inbox, made if needed; ``capacity`` (the runner's default bound) applies
    unless the processor asked for its own.  Only before the run: queued frames are lost."""
    inbox = proc._ensure_inbox(capacity or 64)
    if capacity is not None and proc._capacity is None and inbox.capacity != capacity:
        inbox.resize(capacity)
    return inbox


def setup_of(proc: ProcessorEngine) -> Setup | None:
    """The run ``proc`` was started in; None before it starts."""
    return proc._setup


async def run_processor(proc: ProcessorEngine, setup: Setup) -> None:
    """Run ``proc``'s loop as a task of ``setup.task_group`` until it is cancelled."""
    await proc._fp_run(setup)


def attach(proc: ProcessorEngine, down: Outlet, up: Outlet, setup: Setup | None = None) -> None:
    """Hosting: ``proc`` pushes into ``down`` / ``up`` (a host's outlets) and, once given
    ``setup``, runs in it without a loop of its own (frames come through :func:`handle`)."""
    proc._fp_down = down
    proc._fp_up = up
    if setup is not None:
        proc._fp_attach(setup)


async def handle(proc: ProcessorEngine, frame: Frame, direction: Direction) -> None:
    """Hosting: ``proc`` handles ``frame`` as its loop would (lifecycle hooks, then
    ``process_frame``; an exception becomes an ErrorFrame pushed upstream)."""
    await proc._fp_guard(frame, direction)


async def release(proc: ProcessorEngine) -> None:
    """Hosting: cancel ``proc``'s background tasks and run its ``on_cleanup`` (once)."""
    for scope in list(proc._scopes):
        scope.cancel()
    await proc._fp_cleanup()


def reset(proc: ProcessorEngine) -> None:
    """Hosting: make a released ``proc`` ready to start again."""
    proc.stopped = False
    proc.cancelled = False
    proc._fp_cleaned = False
