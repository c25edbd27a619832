"""Hosting: one processor run *inside* another, outside the pipeline graph.

Wrapping processors (``Retry``, ``Fallback`` in :mod:`beluga_voice.processors.resilience`)
must feed frames to a processor they own, see everything it pushes before the pipeline
does, and restart it, while the hosted processor does not know it is wrapped: it calls
``push_frame``, ``push_error`` and ``create_task`` as usual.  A :class:`Hosted` gives the
inner processor an *outlet* in place of its neighbours' inboxes and a copy of the host's
:class:`~beluga_voice.pipeline.setup.Setup`, through the engine's interface in
``engine.py`` (``attach``, ``handle``, ``release``, ``reset``).  What the inner pushes
goes to ``on_frame(frame, direction)`` of the host, in the pushing task; nothing is
queued, so the host's own inbox bounds the whole thing.

The inner never takes frames by direct hand-off (it has no inbox consumer link) and runs
its handlers in the host's task; its ``create_task`` work runs in the pipeline's task
group, like the host's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

import anyio

from ..frames import CancelFrame, Direction, EndFrame, Frame, StartFrame
from .engine import attach, handle, release, reset, setup_of
from .processor import FrameProcessor

__all__ = ["Hosted", "OnFrame"]

OnFrame = Callable[[Frame, Direction], Awaitable[None]]


class _Outlet:
    """Stands where an inbox of the next (or previous) processor would: the engine's
    ``push_frame`` finds no door to hand the frame through, ``put_nowait`` declines, and
    ``put`` calls the host."""

    __slots__ = ("_direction", "_on_frame")

    door: None = None

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
        self._down = _Outlet(on_frame, Direction.DOWNSTREAM)
        self._up = _Outlet(on_frame, Direction.UPSTREAM)
        processor.direct_handoff = False  # it has no loop of its own: the host feeds it
        attach(processor, self._down, self._up)
        self.cleanup_timeout = 1.0
        self.started = False

    @property
    def name(self) -> str:
        return self.processor.name

    def adopt(self, host: FrameProcessor) -> None:
        """Run the inner in the host's run (call once the host has started): its
        ``create_task`` uses the host's task group and its cleanup the host's bound; its
        errors reach the host only (the host decides whether they are the run's), and
        observers see what the host passes on, not the inner's pushes (no double count)."""
        setup = setup_of(host)
        if setup is None:
            raise RuntimeError(f"{host.name} adopts {self.name} before it started")
        self.cleanup_timeout = setup.cleanup_timeout
        inner = replace(setup, observers=(), report_error=None, direct_handoff=False, on_idle=None)
        attach(self.processor, self._down, self._up, inner)

    async def handle(self, frame: Frame, direction: Direction) -> None:
        """Deliver one frame as the engine would: lifecycle hooks, then ``process_frame``;
        an exception becomes an ErrorFrame pushed (to the host) like any other."""
        if isinstance(frame, StartFrame) and direction is Direction.DOWNSTREAM:
            self.started = True
        await handle(self.processor, frame, direction)
        if isinstance(frame, EndFrame):
            self.started = False

    async def cleanup(self) -> None:
        """Run the inner's ``on_cleanup`` (shielded, bounded) and cancel its tasks."""
        await release(self.processor)
        self.started = False

    async def restart(self, start: StartFrame) -> None:
        """Release everything the inner holds and start it again with ``start``.

        For a processor that failed for good (a lost session): its ``on_cleanup``
        releases what it opened, then ``on_start`` opens afresh.  The StartFrame the
        inner passes on reaches the host, which does not forward a second one.
        """
        await self.cleanup()
        reset(self.processor)
        await self.handle(start, Direction.DOWNSTREAM)

    async def stop(self, frame: Frame) -> None:
        """Stop the inner with ``frame`` (End or Cancel), bounded, and release it."""
        if isinstance(frame, CancelFrame):
            self.processor.cancelled = True  # as the engine marks it: queued work is dropped
        with anyio.move_on_after(self.cleanup_timeout):
            await self.handle(frame, Direction.DOWNSTREAM)
        await self.cleanup()

    def __repr__(self) -> str:
        return f"<Hosted {self.processor.name}>"
