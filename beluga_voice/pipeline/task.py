"""The runner: runs a pipeline to completion inside one anyio task group.

:class:`PipelineTask` wraps the user's pipeline between a head (where frames are queued
from outside, and where upstream frames such as errors end) and a tail (where downstream
frames leave, and where the end of the stream is detected).  Every processor runs as a
task of one task group, so nothing outlives :meth:`PipelineTask.run`.

Stopping has a hard deadline: after :meth:`stop_when_done` (graceful, EndFrame) or
:meth:`cancel` (CancelFrame), the run ends within ``stop_timeout`` seconds even if a
processor is stuck in an ``await``; the stuck processors are named in
:attr:`PipelineTask.stuck` and in a warning.  ``stop_timeout`` is the whole budget of the
graceful part: the End crossing the pipeline, the ``on_stop`` hooks and the wait for the
last upstream frames share it, and nothing polls meanwhile.  Then every processor's task
is cancelled and its ``on_cleanup`` hook runs, shielded and bounded by
``cleanup_timeout``, so that what a processor opened is released however the run ended
(a cleanup with nothing to release costs nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import anyio

from ..frames import (
    CancelFrame,
    Direction,
    EndFrame,
    ErrorFrame,
    Frame,
    StartFrame,
)
from .compose import Pipeline
from .engine import inbox_of, run_processor
from .observer import FrameObserver
from .processor import FrameProcessor, Node, deliver
from .setup import Setup

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider

    from .metrics import PipelineMetrics

__all__ = ["PipelineTask"]

log = logging.getLogger("beluga_voice.pipeline")

FrameCallback = Callable[[Frame], Awaitable[None]]


def _metrics_enabled(processors: Iterable[FrameProcessor]) -> bool:
    """Metrics are on when a processor of the pipeline works for a provider whose config
    enables them (``S2SConfig.enable_metrics``, the default), like the S2S processor."""
    for proc in processors:
        config = getattr(getattr(proc, "provider", None), "config", None)
        if getattr(config, "enable_metrics", False) is True:
            return True
    return False


class _Head(FrameProcessor):
    """First processor: frames queued from outside enter here; upstream frames end here."""

    def __init__(self, task: PipelineTask) -> None:
        super().__init__(name="PipelineTask.head")
        self.task = task

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if direction is Direction.DOWNSTREAM:
            await self.push_frame(frame, direction)
            return
        if isinstance(frame, ErrorFrame):
            self.task._record_error(frame)
        if self.task.on_upstream is not None:
            await self.task.on_upstream(frame)


class _Tail(FrameProcessor):
    """Last processor: downstream frames leave here; End / Cancel arriving ends the run."""

    def __init__(self, task: PipelineTask) -> None:
        super().__init__(name="PipelineTask.tail")
        self.task = task

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if direction is Direction.UPSTREAM:
            await self.push_frame(frame, direction)
            return
        if self.task.on_output is not None:
            await self.task.on_output(frame)
        if isinstance(frame, (EndFrame, CancelFrame)):
            self.task._finished.set()


class PipelineTask:
    """Runs ``pipeline``; see the module docstring.

    ``on_output`` receives every frame that leaves the end of the pipeline, ``on_upstream``
    every frame that leaves its start going upstream.  ``inbox_capacity`` bounds each
    processor's data lane (processors may set their own).  ``direct_handoff=False`` makes
    every hop go through the receiver's queue and task, as if no processor were ever idle
    (slower; for comparison and for debugging).  ``stop_timeout`` bounds a stop from the
    moment it is asked for; ``cleanup_timeout`` bounds each processor's ``on_cleanup``
    after it (they run side by side), so :meth:`run` returns within ``stop_timeout +
    cleanup_timeout`` of a stop in the worst case, and within ``stop_timeout`` when the
    cleanups have nothing slow to do.

    ``metrics`` attaches the per-frame observer
    (:class:`~beluga_voice.pipeline.metrics.PipelineMetrics`, on ``meter_provider``
    or the global one) without the caller building it; the default (None) turns it on
    when a processor's provider config has ``enable_metrics`` (the S2S processor's, by
    default).  An observer of that type already in ``observers`` is not doubled.
    """

    def __init__(
        self,
        pipeline: Node | Sequence[Node],
        *,
        start_frame: StartFrame | None = None,
        stop_timeout: float = 2.0,
        cleanup_timeout: float = 1.0,
        inbox_capacity: int = 64,
        direct_handoff: bool = True,
        observers: Iterable[FrameObserver] = (),
        metrics: bool | None = None,
        meter_provider: MeterProvider | None = None,
        on_output: FrameCallback | None = None,
        on_upstream: FrameCallback | None = None,
        on_error: Callable[[ErrorFrame], Awaitable[None]] | None = None,
    ) -> None:
        self.pipeline = pipeline if isinstance(pipeline, Node) else Pipeline(list(pipeline))
        self.start_frame = start_frame or StartFrame()
        self.stop_timeout = stop_timeout
        self.cleanup_timeout = cleanup_timeout
        self.on_output = on_output
        self.on_upstream = on_upstream
        self._on_error_cb = on_error
        self._head = _Head(self)
        self._tail = _Tail(self)
        self._root = Pipeline([self._head, self.pipeline, self._tail], name="PipelineTask")
        self.processors = self._root.processors()
        observers = tuple(observers)
        self.metrics: PipelineMetrics | None = None
        """The per-frame metrics observer attached by the task (``metrics``), if any."""
        if metrics is None:
            metrics = _metrics_enabled(self.processors)
        if metrics:
            # The observer lives with the other OpenTelemetry code; it is imported only
            # when metrics are on, so a metrics-free pipeline never loads that code.
            from .metrics import PipelineMetrics

            if not any(isinstance(o, PipelineMetrics) for o in observers):
                self.metrics = PipelineMetrics(meter_provider).watch(self)
                observers = (*observers, self.metrics)
        for proc in self.processors:
            inbox_of(proc, inbox_capacity)
        self._observers = observers
        self._direct_handoff = direct_handoff
        self.errors: list[ErrorFrame] = []
        self.stuck: list[str] = []
        """Processors that missed the stop deadline, as ``"name (handling Frame)"``."""
        self._recorded: set[int] = set()
        self._finished = anyio.Event()
        self._stopping = False
        self._deadline: float | None = None
        """When the stop asked for must be over (anyio clock); None until one is asked."""
        self._settled: anyio.Event | None = None
        self._started = False
        self._task_group: anyio.abc.TaskGroup | None = None

    # -- control --------------------------------------------------------------------------

    async def queue_frame(self, frame: Frame, direction: Direction = Direction.DOWNSTREAM) -> None:
        """Queue a frame at the start of the pipeline (or at its end, going upstream)."""
        end = self._head if direction is Direction.DOWNSTREAM else self._tail
        await deliver(inbox_of(end), frame, direction)

    async def queue_frames(self, frames: Iterable[Frame]) -> None:
        for frame in frames:
            await self.queue_frame(frame)

    async def stop_when_done(self) -> None:
        """Queue an EndFrame: stop once everything queued before it has been processed.

        The stop deadline starts now.  On a jammed pipeline, where even the EndFrame
        cannot be queued, this returns at the deadline, when the run is cancelled.
        """
        self._arm_deadline()
        await self._queue_stop(EndFrame())

    async def cancel(self) -> None:
        """Stop now: a CancelFrame overtakes queued data; hard deadline as for End."""
        self._arm_deadline()
        await self._queue_stop(CancelFrame())

    async def _queue_stop(self, frame: Frame) -> None:
        assert self._deadline is not None
        with anyio.CancelScope(deadline=self._deadline):
            await self.queue_frame(frame)

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    # -- running --------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until an End or Cancel has crossed the whole pipeline (or the deadline)."""
        if self._started:
            raise RuntimeError("a PipelineTask runs once; build a new one")
        self._started = True
        async with anyio.create_task_group() as tg:
            self._task_group = tg
            setup = Setup(
                task_group=tg,
                observers=self._observers,
                report_error=self._record_error,
                cleanup_timeout=self.cleanup_timeout,
                direct_handoff=self._direct_handoff,
                on_idle=self._on_idle,
            )
            for proc in self.processors:
                tg.start_soon(run_processor, proc, setup, name=proc.name)
            await self.queue_frame(self.start_frame)
            if self._stopping:  # stop was asked before the run began
                tg.start_soon(self._watchdog, name="PipelineTask.watchdog")
            await self._finished.wait()
            if self._deadline is None:  # the end came from inside: the budget starts now
                self._deadline = anyio.current_time() + self.stop_timeout
            await self._quiesce()
            tg.cancel_scope.cancel()
            with anyio.CancelScope(shield=True):
                await self._drain_head()
        for proc in self.processors:
            inbox_of(proc).close()

    async def _quiesce(self) -> None:
        """Let upstream frames already on their way (errors, reports) reach the head.

        When the end of the stream reaches the tail, a processor may have pushed frames
        upstream just before passing the end on; give them the time to arrive, within
        what is left of the stop deadline (nothing, when the watchdog fired), so that
        nothing said on the way out is lost.  It waits on the processors' idle hook, not
        by polling: a processor stuck in an ``await`` costs no CPU here.
        """
        deadline = self._deadline
        if deadline is None or deadline <= anyio.current_time() or not self._busy():
            return
        busy = self._busy
        with anyio.CancelScope(deadline=deadline):
            while busy():
                self._settled = anyio.Event()
                await self._settled.wait()

    def _busy(self) -> bool:
        """Whether a processor (but the tail) is handling a frame or has system frames queued."""
        return any(
            p.current_frame is not None or p.system_frames_waiting
            for p in self.processors
            if p is not self._tail
        )

    def _on_idle(self) -> None:
        if self._settled is not None:
            self._settled.set()

    async def _drain_head(self) -> None:
        """Deliver upstream frames (errors) still queued at the head when the run ends.

        Errors are recorded whatever the time left; the ``on_upstream`` callback gets
        what is left of the stop deadline (one that does not await always runs).
        """
        frames: list[Frame] = []
        for frame, direction in inbox_of(self._head).take_priority():
            if direction is Direction.UPSTREAM:
                frames.append(frame)
                if isinstance(frame, ErrorFrame):
                    self._record_error(frame)
        if not frames:
            return
        deadline = self._deadline if self._deadline is not None else anyio.current_time()
        with anyio.CancelScope(shield=True, deadline=deadline):  # expired: no await runs
            for frame in frames:
                await self._head.process_frame(frame, Direction.UPSTREAM)

    def _arm_deadline(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._deadline = anyio.current_time() + self.stop_timeout
        if self._task_group is not None:
            self._task_group.start_soon(self._watchdog, name="PipelineTask.watchdog")

    async def _watchdog(self) -> None:
        assert self._deadline is not None  # armed before the watchdog starts
        with anyio.CancelScope(deadline=self._deadline):
            await self._finished.wait()
            return
        self.stuck = [
            f"{p.name} (handling {type(p.current_frame).__name__})"
            for p in self.processors
            if p.current_frame is not None
        ] or [p.name for p in self.processors if not p.stopped]
        log.warning(
            "pipeline did not stop within %.3g s; cancelling. Stuck: %s",
            self.stop_timeout,
            ", ".join(self.stuck) or "none",
        )
        self._finished.set()

    @staticmethod
    async def _tell_on_error(
        callback: Callable[[ErrorFrame], Awaitable[None]], frame: ErrorFrame
    ) -> None:
        await callback(frame)  # any awaitable will do, not only a coroutine

    def _record_error(self, frame: ErrorFrame) -> None:
        """Note an error once (processors report directly and the frame also goes upstream)."""
        if id(frame) in self._recorded:
            return
        self._recorded.add(id(frame))
        self.errors.append(frame)
        log.log(
            logging.ERROR if frame.fatal else logging.WARNING,
            "pipeline error from %s: %s",
            frame.source,
            frame.message,
        )
        tg = self._task_group
        if tg is None:
            return
        if self._on_error_cb is not None:
            tg.start_soon(
                self._tell_on_error, self._on_error_cb, frame, name="PipelineTask.on_error"
            )
        if frame.fatal and not self._stopping:
            tg.start_soon(self.cancel, name="PipelineTask.cancel")
