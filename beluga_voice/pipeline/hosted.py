"""Hosting: one processor run *inside* another, outside the pipeline graph.

Wrapping processors (``Retry``, ``Fallback`` in :mod:`beluga_voice.processors.resilience`)
must feed frames to a processor they own, see everything it pushes before the pipeline
does, and restart it, while the hosted processor does not know it is wrapped: it calls
``push_frame``, ``push_error`` and ``create_task`` as usual.  The engine's private
hand-off state lives in this package, so the hosting does too: a :class:`Hosted` gives the
inner processor an *outlet* in place of its neighbours' inboxes.  What the inner pushes
goes to ``on_frame(frame, direction)`` of the host, in the pushing task; nothing is
queued, so the host's own inbox bounds the whole thing.

The inner never takes frames by direct hand-off (it has no inbox consumer link) and runs
its handlers in the host's task; its ``create_task`` work runs in the pipeline's task
group, like the host's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

from ..frames import CancelFrame, Direction, EndFrame, Frame, StartFrame
from .processor import FrameProcessor

__all__ = ["Hosted", "OnFrame"]

OnFrame = Callable[[Frame, Direction], Awaitable[None]]


class _Outlet:
    """Stands where an inbox of the next (or previous) processor would: the engine's
    ``push_frame`` finds no consumer to hand the frame to, ``put_nowait`` declines, and
    ``put`` calls the host."""

    __slots__ = ("_direction", "_on_frame")

    consumer: None = None

    def __init__(self, on_frame: OnFrame, direction: Direction) -> None:
        self._on_frame = on_frame
        self._direction = direction

    def put_nowait(self, frame: Frame, direction: Direction) -> bool:
        return False

    async def put(self, frame: Frame, direction: Direction) -> None:
        await self._on_frame(frame, direction)


class Hosted:
    """``processor`` run by a host: see the module docstring.

    ``started`` says whether the inner saw a StartFrame (and not yet a stop or cleanup).
    """

    def __init__(self, processor: FrameProcessor, on_frame: OnFrame) -> None:
        self.processor = processor
        self._on_frame = on_frame
        processor._fp_down = _Outlet(on_frame, Direction.DOWNSTREAM)  # type: ignore[assignment]
        processor._fp_up = _Outlet(on_frame, Direction.UPSTREAM)  # type: ignore[assignment]
        processor._report_error = None  # its errors reach the host, which decides
        processor.direct_handoff = False
        self.started = False

    @property
    def name(self) -> str:
        return self.processor.name

    def adopt(self, host: FrameProcessor) -> None:
        """Let the inner's ``create_task`` use the host's task group (set at run time)."""
        self.processor._task_group = host._task_group
        self.processor._fp_cleanup_timeout = host._fp_cleanup_timeout

    async def handle(self, frame: Frame, direction: Direction) -> None:
        """Deliver one frame as the engine would: lifecycle hooks, then ``process_frame``;
        an exception becomes an ErrorFrame pushed (to the host) like any other."""
        if isinstance(frame, StartFrame) and direction is Direction.DOWNSTREAM:
            self.started = True
        await self.processor._fp_guard(frame, direction)
        if isinstance(frame, EndFrame):
            self.started = False

    async def cleanup(self) -> None:
        """Run the inner's ``on_cleanup`` (shielded, bounded) and cancel its tasks."""
        proc = self.processor
        for scope in list(proc._scopes):
            scope.cancel()
        await proc._fp_cleanup()
        self.started = False

    async def restart(self, start: StartFrame) -> None:
        """Release everything the inner holds and start it again with ``start``.

        For a processor that failed for good (a lost session): its ``on_cleanup``
        releases what it opened, then ``on_start`` opens afresh.  The StartFrame the
        inner passes on reaches the host, which does not forward a second one.
        """
        await self.cleanup()
        proc = self.processor
        proc.stopped = False
        proc.cancelled = False
        proc._fp_cleaned = False
        await self.handle(start, Direction.DOWNSTREAM)

    async def stop(self, frame: Frame) -> None:
        """Stop the inner with ``frame`` (End or Cancel), bounded, and release it."""
        if isinstance(frame, CancelFrame):
            self.processor.cancelled = True  # as the engine marks it: queued work is dropped
        with anyio.move_on_after(self.processor._fp_cleanup_timeout):
            await self.handle(frame, Direction.DOWNSTREAM)
        await self.cleanup()

    def __repr__(self) -> str:
        return f"<Hosted {self.processor.name}>"
