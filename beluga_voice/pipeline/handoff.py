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
from collections.abc import Coroutine, Generator
from contextvars import Context
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from ..frames import Frame

__all__ = ["MAX_DEPTH", "STEP_BUDGET", "Rest", "Turn", "turn_for"]

STEP_BUDGET: Final = 1024
"""Direct hand-offs one task may start in one step (a few milliseconds of light work)."""

MAX_DEPTH: Final = 32
"""Direct hand-offs that may nest inside one another (hops handled in one call chain)."""

_enter_task = getattr(asyncio.tasks, "_enter_task", None)
_leave_task = getattr(asyncio.tasks, "_leave_task", None)
_current_tasks: dict[asyncio.AbstractEventLoop, asyncio.Task[Any]] | None = getattr(
    asyncio.tasks, "_current_tasks", None
)


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


_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Turn] = weakref.WeakKeyDictionary()


def turn_for(loop: asyncio.AbstractEventLoop | None) -> Turn | None:
    """The hand-off bookkeeping of ``loop``; None where hand-off is not possible."""
    if loop is None or _enter_task is None or _leave_task is None or _current_tasks is None:
        return None
    turn = _turns.get(loop)
    if turn is None:
        turn = _turns[loop] = Turn(loop)
    return turn


class Rest:
    """The rest of a handler that suspended, for the receiver's task to await.

    The handler's coroutine was started by hand and stopped at an ``await`` whose object it
    yielded (``first``).  Awaiting a ``Rest`` yields that object on to the task running it,
    then feeds the coroutine whatever the task sends or throws, each step in ``ctx``.
    """

    __slots__ = ("coro", "ctx", "first", "frame")

    def __init__(
        self, coro: Coroutine[Any, Any, Any], ctx: Context, first: Any, frame: Frame | None
    ) -> None:
        self.coro = coro
        self.ctx = ctx
        self.first = first
        self.frame = frame
        """The frame being handled (None for an error report), for the error message."""

    def __await__(self) -> Generator[Any, Any, None]:
        coro, run = self.coro, self.ctx.run
        out = self.first
        while True:
            try:
                sent = yield out
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # a cancellation, thrown in by the task
                try:
                    out = run(coro.throw, exc)
                except StopIteration:
                    return
                continue
            try:
                out = run(coro.send, sent)
            except StopIteration:
                return
