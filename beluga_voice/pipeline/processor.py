"""The frame processor: one coroutine reading one inbox.

Subclass :class:`FrameProcessor` and implement :meth:`~FrameProcessor.process_frame`; call
:meth:`~FrameProcessor.push_frame` to send frames on.  A transformer is five lines::

    class Upper(FrameProcessor):
        async def process_frame(self, frame, direction):
            if isinstance(frame, TextFrame):
                frame = TextFrame(frame.text.upper())
            await self.push_frame(frame, direction)

The base class keeps the hot path small.  Pushing to an idle processor hands the frame
over directly (``handoff.py``: no queue, no task wake-up); otherwise the frame goes into
the next processor's inbox with a ``send_nowait``, and that processor's loop reads it with
a ``receive_nowait``, draining a burst in one scheduling slot.  Nothing is allocated per
frame except the tuple of an upstream or system frame and the coroutines of the handlers.

This module holds what a processor's author uses; how the engine runs a processor (its
loop, lifecycle dispatch, error reports, cleanup) is its base class, in ``engine.py``.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, Final

import anyio
import anyio.lowlevel

from ..frames import CancelFrame, Direction, ErrorFrame, Frame, StartFrame
from .engine import (
    ProcessorEngine,
    attach,
    handle,
    inbox_of,
    release,
    reset,
    run_processor,
    setup_of,
)
from .handoff import Door, take
from .inbox import Inbox
from .node import Node, Outlet, deliver
from .observer import notify

if TYPE_CHECKING:
    from .observer import FrameObserver
    from .setup import Setup

__all__ = [
    "FrameProcessor",
    "Node",
    "Outlet",
    "attach",
    "deliver",
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
_ids = itertools.count(1)


class FrameProcessor(ProcessorEngine):
    """Base class of every processor.  See the module docstring.

    Lifecycle hooks: :meth:`on_start` runs when the StartFrame arrives (before it is
    passed on), :meth:`on_stop` when an EndFrame or CancelFrame arrives (before it is
    passed on), so a processor can flush what it holds ahead of the end of the stream,
    and :meth:`on_cleanup` when the processor's task ends, however it ends, to release
    what the processor opened.

    A frame pushed to a processor that is idle is handled at once, in the pusher's turn
    of the event loop but as this processor's task (see ``pipeline/handoff.py``); set
    :attr:`direct_handoff` to False to have every frame queued and picked up by the
    processor's own task instead.
    """

    direct_handoff: bool = True
    """Whether an idle processor takes frames directly (no queue, no task wake-up)."""

    def __init__(self, *, name: str | None = None, inbox_capacity: int | None = None) -> None:
        self.name = name or f"{type(self).__name__}#{next(_ids)}"
        self._capacity = inbox_capacity
        self._fp_inbox: Inbox | None = None
        self._fp_down: Outlet | None = None
        self._fp_up: Outlet | None = None
        self._setup: Setup | None = None
        """The run this processor is part of (``pipeline/setup.py``), given at start."""
        self._observers: tuple[FrameObserver, ...] = ()
        """``self._setup.observers``, kept at hand for the hot path."""
        self._scopes: set[anyio.CancelScope] = set()
        self.current_frame: Frame | None = None
        """The frame being handled right now (the runner names a processor stuck on it)."""
        self.stopped = False
        self.cancelled = False
        self.frames_dropped = 0
        """Frames this processor's inbox dropped on interruptions."""
        self._door = Door(self, self._fp_handle, self._fp_fail)
        """Direct hand-off state (``handoff.Door``): open while parked on an empty inbox."""
        self._fp_cleaned = False

    # -- the API for subclasses --------------------------------------------------------------

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        """Handle one frame.  The default passes every frame on unchanged."""
        await self.push_frame(frame, direction)

    async def push_frame(self, frame: Frame, direction: Direction = _DOWN) -> None:
        """Send ``frame`` to the next processor (downstream) or the previous (upstream)."""
        if self._observers:
            notify(self._observers, self, frame, direction)
        target = self._fp_down if direction is _DOWN else self._fp_up
        if target is None:
            return
        # deliver(), inlined on the hot path; a processor with a burst queued queues too
        door = target.door
        mine = self._fp_inbox
        if (
            door is not None
            and door.open
            and (mine is None or mine.data_in == mine.data_out)  # in a burst, queue: cheaper
            and take(door, frame, direction)
        ):
            return
        if not target.put_nowait(frame, direction):
            await target.put(frame, direction)

    def push_frame_nowait(self, frame: Frame, direction: Direction = _DOWN) -> bool:
        """:meth:`push_frame` to an idle receiver, from where nothing can be awaited.

        For a source fed from an I/O callback (a socket protocol's ``data_received``):
        when the receiver is parked on an empty inbox, the frame is handed to it at once
        (see ``pipeline/handoff.py``) and observers are told, as :meth:`push_frame` would.
        False, with nothing done, when the receiver is busy (or the hand-off budget of
        this loop turn is spent): the caller then awaits :meth:`push_frame` from a task.
        """
        target = self._fp_down if direction is _DOWN else self._fp_up
        if target is None:
            if self._observers:
                notify(self._observers, self, frame, direction)
            return True
        door = target.door
        mine = self._fp_inbox
        return (
            door is not None
            and door.open
            and (mine is None or mine.data_in == mine.data_out)
            and take(door, frame, direction, self, self._observers)
        )

    async def push_error(
        self,
        message: str,
        *,
        code: str = "internal_error",
        fatal: bool = False,
        cause: BaseException | None = None,
    ) -> None:
        """Report a problem upstream as an :class:`ErrorFrame` from this processor."""
        await self.push_frame(
            ErrorFrame(message, code=code, fatal=fatal, source=self.name, cause=cause), _UP
        )

    async def push_exception(self, exc: Exception, doing: str = "", *, fatal: bool = False) -> None:
        """Report ``exc`` upstream the way the engine reports one a handler raised.

        For work a processor catches to keep going (a worker that must survive one failed
        job): the :class:`ErrorFrame`'s code is the exception's own ``code`` (every
        :class:`~beluga_voice.providers.S2SError` has one), else ``internal_error``;
        ``doing`` says what failed ("synthesising a sentence").
        """
        await self._fp_report(exc, f" {doing}" if doing else "", fatal)

    async def on_start(self, frame: StartFrame) -> None:
        """Called with the StartFrame before it is passed on."""

    async def on_end(self) -> None:
        """Called on an EndFrame, before :meth:`on_stop`: finish the work in progress.

        An EndFrame means "finish what you were given, then stop" (a file that ended, a
        client that said goodbye), so a processor that owes an answer (a provider reply to
        the last question) waits for it here; the frames it pushes meanwhile go out before
        the EndFrame.  A CancelFrame skips this.  The stop deadline still bounds it.
        """

    async def on_stop(self) -> None:
        """Called on EndFrame or CancelFrame before it is passed on (at most once)."""

    async def on_interruption(self) -> None:
        """Called on an InterruptionFrame, after the inbox was flushed."""

    async def on_cleanup(self) -> None:
        """Release what this processor opened; runs once, on every exit path.

        Why it exists beside :meth:`on_stop`: ``on_stop`` is part of the graceful end and
        never runs when the stop deadline cancels a processor that is busy (stuck in an
        ``await``, or held back by a full inbox downstream) before the End or Cancel frame
        reached it, or cancels ``on_stop`` itself half-way.  ``on_cleanup`` runs when the
        processor's task ends, whether it stopped gracefully or was cancelled, after
        ``on_stop`` if that ran: shielded from the cancellation and bounded by the
        runner's ``cleanup_timeout``.  Make it idempotent (``on_stop`` may already have
        released everything) and do not push frames from it: the pipeline is gone.  It
        may run without :meth:`on_start` having run (or finished).
        """

    @property
    def in_run(self) -> bool:
        """Whether this processor is part of a running pipeline (``create_task`` works)."""
        return self._setup is not None

    async def serving_upstream(self, work: Callable[[], Awaitable[Any]]) -> None:
        """Await ``work()`` while still handling the frames that travel *upstream* through
        this processor.

        For :meth:`on_end`: a processor that waits there for work in progress holds its
        inbox, yet what the processors after it say may be part of that work (a reply for
        it to voice, an error).  Upstream frames are handled meanwhile, in order, beside
        ``work``; downstream system frames wait until it is done, except a CancelFrame,
        which cancels it.  Downstream data queues as usual (nothing follows an End).
        """
        inbox = self._fp_inbox
        if inbox is None or self._setup is None:
            await work()
            return
        # The inbox's one waiter belongs to this processor's task: if a pusher handed us
        # the End directly, suspend once so that the task takes the rest of it over.
        await anyio.lowlevel.checkpoint()
        held: list[tuple[Frame, Direction]] = []
        finished = False

        async def run() -> None:
            nonlocal finished
            try:
                await work()
            finally:
                finished = True
                inbox.wake()

        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            while not finished:
                if not inbox.prio_count:
                    await inbox.wait()
                    continue
                try:
                    frame, direction = inbox.priority_lane.receive_nowait()
                except anyio.WouldBlock:  # pragma: no cover - counted but not yet sent
                    await inbox.wait()
                    continue
                inbox.prio_count -= 1
                if direction is _DOWN:
                    held.append((frame, direction))
                    if isinstance(frame, CancelFrame):
                        tg.cancel_scope.cancel()
                        break
                    continue
                await self._fp_guard(frame, direction)
        for frame, direction in held:  # in their order, as the loop would have
            await self._fp_priority(inbox, frame, direction)

    def create_task(self, func: Callable[..., Awaitable[Any]], *args: Any, name: str = "") -> None:
        """Run ``func(*args)`` beside this processor, owned by the pipeline's task group.

        The task is cancelled when the processor stops; an exception in it becomes an
        ErrorFrame like one from :meth:`process_frame`.
        """
        if self._setup is None:
            raise RuntimeError(f"{self.name}: create_task needs a running pipeline")
        self._setup.task_group.start_soon(self._fp_guarded, func, args, name=name or self.name)

    @property
    def queue_depth(self) -> int:
        return self._fp_inbox.depth if self._fp_inbox is not None else 0

    @property
    def system_frames_waiting(self) -> bool:
        """A system frame (interruption, cancel...) is queued for this processor.

        A handler that waits for room (backpressure) checks it, so that it stops waiting
        and lets the interruption through instead of holding it back.
        """
        return self._fp_inbox is not None and self._fp_inbox.priority_depth > 0

    # -- where it stands in a pipeline (see node.Node) ---------------------------------------

    def _leaves(self) -> Iterator[FrameProcessor]:
        yield self

    def _down_inbox(self) -> Inbox:
        return self._ensure_inbox()

    def _up_inbox(self) -> Inbox:
        return self._ensure_inbox()

    def _link(self, prev: Node | None, next_: Node | None) -> None:
        self._fp_up = prev._up_inbox() if prev is not None else None
        self._fp_down = next_._down_inbox() if next_ is not None else None
