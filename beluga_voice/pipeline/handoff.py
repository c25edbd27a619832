"""Direct hand-off: a frame pushed to an idle processor is handled at once.

Why: a hop through a queue costs an event-loop wake-up of the receiving task, about ten
microseconds of scheduling on a loaded loop and a place at the back of the ready queue,
so ten hops in real time cost far more than the work they do.  When the receiver is
parked on an empty inbox, queueing the frame and waking the receiver has exactly one
outcome: the receiver handles that frame next.  The engine then skips the queue and runs
the receiver's handler right away, in the pusher's turn of the event loop.

What keeps the semantics those of a queue:

* The handler runs *as the receiver*: the current asyncio task is switched to the
  receiver's task for the call (so cancel scopes, timeouts and ``current_task()`` belong
  to it) and it runs in the receiver's own contextvars context.
* If the handler suspends (it awaits I/O, a full queue, a lock), the rest of it is handed
  to the receiver's task, which carries it on before anything else; the pusher goes on at
  once.  A busy receiver is never entered: frames for it queue as usual, in order, with
  the same bound and backpressure.
* A budget per task step stops a producer that never awaits from starving the loop
  (beyond it frames queue, and the producer meets backpressure), and a depth bound keeps a
  long chain from growing the stack without end.

Only on asyncio, where the current task can be switched; on other anyio backends every
frame is queued.
"""

from __future__ import annotations

import asyncio
import asyncio.tasks
import weakref
from collections.abc import Callable, Coroutine, Generator
from contextvars import Context
from typing import TYPE_CHECKING, Any, Final

from ..frames import CancelFrame, Direction, FrameKind
from .observer import notify

if TYPE_CHECKING:
    from ..frames import Frame
    from .inbox import Inbox
    from .observer import FrameObserver
    from .processor import FrameProcessor

__all__ = [
    "MAX_DEPTH",
    "STEP_BUDGET",
    "Door",
    "InContext",
    "Rest",
    "Turn",
    "step",
    "take",
    "turn_for",
]

_DOWN: Final = Direction.DOWNSTREAM
_DATA: Final = FrameKind.DATA
_SYSTEM: Final = FrameKind.SYSTEM

STEP_BUDGET: Final = 1024
"""Direct hand-offs one task may start in one step (a few milliseconds of light work)."""

MAX_DEPTH: Final = 32
"""Direct hand-offs that may nest inside one another (hops handled in one call chain)."""


def _unavailable(*_: Any) -> Any:  # pragma: no cover - only where asyncio lacks them
    raise RuntimeError("direct hand-off is not available on this Python")


# The hooks asyncio's own tasks use to mark the task running now (CPython 3.11-3.13).
# turn_for() checks that they work before any hand-off; where not, frames always queue.
_enter_task: Callable[[asyncio.AbstractEventLoop, asyncio.Task[Any]], None] = getattr(
    asyncio.tasks, "_enter_task", _unavailable
)
_leave_task: Callable[[asyncio.AbstractEventLoop, asyncio.Task[Any]], None] = getattr(
    asyncio.tasks, "_leave_task", _unavailable
)
_current_task = asyncio.current_task


class Turn:
    """Hand-offs of the task running now on one event loop, and how deep they nest.

    ``spent`` counts the hand-offs started since ``owner`` (the task whose step started
    the outermost one) changed, or since the loop's last turn ended, whichever is later.
    """

    __slots__ = ("__weakref__", "armed", "depth", "loop", "owner", "spent")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.owner: asyncio.Task[Any] | None = None
        self.spent = 0
        self.depth = 0
        self.armed = False
        """A reset is scheduled for the end of the loop's current turn."""

    def arm(self) -> None:
        if not self.armed:
            self.armed = True
            self.loop.call_soon(self._reset)

    def _reset(self) -> None:
        self.armed = False
        self.spent = 0
        self.owner = None


_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Turn | None] = (
    weakref.WeakKeyDictionary()
)


def turn_for(loop: asyncio.AbstractEventLoop | None) -> Turn | None:
    """The hand-off bookkeeping of ``loop``; None where hand-off is not possible.

    Call from a task of ``loop``.  The first call per loop checks that the current task
    can be switched the way :func:`take` does it; if not, hand-off is off for that loop.
    """
    if loop is None:
        return None
    if loop in _turns:
        return _turns[loop]
    turn: Turn | None = None
    task = _current_task(loop)
    if task is not None:
        try:
            _leave_task(loop, task)
            _enter_task(loop, task)
        except RuntimeError:  # pragma: no cover - an asyncio that keeps these elsewhere
            pass
        else:
            turn = Turn(loop)
    _turns[loop] = turn
    return turn


class Door:
    """The hand-off state of one processor: everything a pusher needs to hand it a frame.

    One per processor, made with it; its inbox and the engine's loop keep it up to date.
    ``open`` is True only while the processor's task is parked on an empty inbox and
    nothing is queued for it: then a pusher may :func:`take` a frame through it.  The
    processor itself is reached only through its public side (``process_frame``,
    ``cancelled``, ``frames_dropped``, ``current_frame``) and the two callables below.
    """

    __slots__ = ("ctx", "fail", "handle", "inbox", "open", "proc", "rest", "task", "turn")

    def __init__(
        self,
        proc: FrameProcessor,
        handle: Callable[[Frame, Direction], Coroutine[Any, Any, None]],
        fail: Callable[[Exception, Frame], Coroutine[Any, Any, None]],
    ) -> None:
        self.proc = proc
        self.handle = handle
        """Lifecycle hooks, then ``process_frame`` (for anything but downstream data)."""
        self.fail = fail
        """Reports an exception a handler raised, as the processor's task would."""
        self.inbox: Inbox | None = None
        """The processor's inbox; it closes the door whenever it wakes the processor."""
        self.open = False
        self.rest: Rest | None = None
        """A handler that suspended during a hand-off, for the processor's task to finish."""
        self.turn: Turn | None = None
        """The loop's hand-off bookkeeping; None where hand-off is off for this processor."""
        self.task: asyncio.Task[Any] | None = None
        """The processor's own task, which a handler handed a frame runs as."""
        self.ctx = Context()
        """The processor's contextvars context (the real one is made as its run starts)."""

    def seat(self, loop: asyncio.AbstractEventLoop | None, ctx: Context) -> None:
        """Called from the processor's own task as it starts: hand-off as that task."""
        self.turn = turn_for(loop)
        self.task = _current_task(loop) if self.turn is not None else None
        self.ctx = ctx

    def park(self) -> None:
        """The processor's task parks on its empty inbox: open unless a sender waits."""
        inbox = self.inbox
        self.open = self.turn is not None and inbox is not None and not inbox.sending


def take(
    door: Door,
    frame: Frame,
    direction: Direction,
    source: FrameProcessor | None = None,
    observers: tuple[FrameObserver, ...] = (),
) -> bool:
    """Have the processor behind ``door`` handle ``frame`` now, in the caller's turn, as
    that processor's own task.

    Only called while ``door.open``.  Returns False when the budget is spent or the chain
    too deep: the caller queues the frame.  ``observers`` (of ``source``, the pusher) are
    told of the push once it is taken: a pusher that cannot queue instead
    (``push_frame_nowait``) tells them only of a push that happens.
    """
    turn: Turn = door.turn  # type: ignore[assignment]  # set whenever the door is open
    loop = turn.loop
    caller = _current_task(loop)
    if not turn.depth and caller is not turn.owner:  # another task's step: a new budget
        turn.owner = caller
        turn.spent = 0
    if turn.spent >= STEP_BUDGET or turn.depth >= MAX_DEPTH:
        return False
    if not turn.spent:  # the loop's next turn starts afresh, even for the same task
        turn.arm()
    turn.spent += 1
    if observers and source is not None:
        notify(observers, source, frame, direction)
    proc = door.proc
    if direction is _DOWN and frame.kind is not _SYSTEM and proc.cancelled:
        proc.frames_dropped += 1  # after a cancel nothing more flows down
        return True
    if isinstance(frame, CancelFrame):
        proc.cancelled = True
    if frame.kind is _DATA and direction is _DOWN:  # the hot path: no lifecycle checks
        coro = proc.process_frame(frame, _DOWN)
    else:
        coro = door.handle(frame, direction)
    door.open = False
    task: asyncio.Task[Any] = door.task  # type: ignore[assignment]
    if caller is not None:
        _leave_task(loop, caller)
    _enter_task(loop, task)
    turn.depth += 1
    try:
        rest = step(door, coro, frame)
    finally:
        turn.depth -= 1
        _leave_task(loop, task)
        if caller is not None:
            _enter_task(loop, caller)
    inbox: Inbox = door.inbox  # type: ignore[assignment]  # an open door has one
    if rest is None:
        door.open = inbox.waiter is not None
    else:  # it suspended: the processor's task carries it on before anything else
        door.rest = rest
        inbox.wake()
    return True


def step(door: Door, coro: Coroutine[Any, Any, None], frame: Frame | None) -> Rest | None:
    """Run a handler handed a frame directly up to its first suspension, in its context.

    None when it finished (the common case: no scheduling at all), else its :class:`Rest`,
    for the processor's task to carry on.  A handler that raises is reported the way the
    processor's task reports it.
    """
    proc = door.proc
    proc.current_frame = frame
    try:
        out = door.ctx.run(coro.send, None)
    except StopIteration:
        proc.current_frame = None
        return None
    except Exception as exc:
        proc.current_frame = None
        if frame is None:  # reporting an error failed: nothing sensible is left to do
            raise
        return step(door, door.fail(exc, frame), None)
    return Rest(coro, out, frame)


_START: Final = object()


def _drive(
    coro: Coroutine[Any, Any, Any],
    run: Callable[..., Any],
    out: Any,
    pending: BaseException | None,
) -> Generator[Any, Any, None]:
    """Step ``coro`` with ``run``, yielding what it awaits to the task awaiting us."""
    try:
        if pending is not None:
            out = run(coro.throw, pending)
        elif out is _START:
            out = run(coro.send, None)
        while True:
            try:
                sent = yield out
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # a cancellation thrown in by the task
                out = run(coro.throw, exc)
            else:
                out = run(coro.send, sent)
    except StopIteration:
        return


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


class Rest:
    """The rest of a handler that suspended during a hand-off, for its own task to await.

    The handler's coroutine was started by hand and stopped at an ``await`` whose object it
    yielded (``first``).  Awaiting a ``Rest`` yields that object on to the task, then feeds
    the coroutine whatever the task sends or throws.
    """

    __slots__ = ("coro", "first", "frame", "pending")

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any, frame: Frame | None) -> None:
        self.coro = coro
        self.first = first
        self.frame = frame
        """The frame being handled (None for an error report), for the error message."""
        self.pending: BaseException | None = None
        """An exception (a cancellation) to throw in before going on."""

    def __await__(self) -> Generator[Any, Any, None]:
        return _drive(self.coro, _call, self.first, self.pending)


class InContext:
    """Awaits ``coro`` with every step of it run in ``ctx``.

    A processor's task runs its loop this way, so that its handlers see one context
    whether its task runs them or a pusher hands them a frame (which runs in ``ctx`` too).
    """

    __slots__ = ("coro", "ctx")

    def __init__(self, coro: Coroutine[Any, Any, Any], ctx: Context) -> None:
        self.coro = coro
        self.ctx = ctx

    def __await__(self) -> Generator[Any, Any, None]:
        return _drive(self.coro, self.ctx.run, _START, None)
