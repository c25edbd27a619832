"""Per-frame pipeline metrics for the price of a few integer additions.

:class:`PipelineMetrics` is a :class:`~beluga_voice.pipeline.observer.FrameObserver`.  On
every push it only bumps plain numbers kept per processor (frames, audio bytes, frame
age sum and maximum); OpenTelemetry reads them through *observable* instruments when a
metric reader collects, so the hot path never touches the SDK.  Instruments (attribute
``processor``):

* ``pipeline.frames`` and ``pipeline.bytes`` (observable counters): frames pushed, and
  audio payload bytes pushed, by each processor;
* ``pipeline.frame.transit_latency`` (observable gauge, ms): mean age of the frames a
  processor pushed since the previous collection (age = now - ``frame.created_ns``: how
  long the frame took to get there), and ``pipeline.frame.transit_latency.max``;
* ``pipeline.queue_depth`` (observable gauge): frames waiting in each processor's inbox
  at collection time (``processor.queue_depth``).

Per-turn metrics (``s2s.turn.*``, see :mod:`beluga_voice.observability.metrics`) are recorded from the frames too,
when ``turn_metrics`` is given: user stopped speaking -> first output audio -> end of
the reply.  That is once per turn, so it may call the SDK directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from time import monotonic_ns
from typing import TYPE_CHECKING

from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

from ..frames import (
    AudioFrame,
    BotStoppedSpeakingFrame,
    Direction,
    Frame,
    OutputAudioFrame,
    ResponseEndFrame,
    UserStoppedSpeakingFrame,
)
from ..observability.metrics import S2SMetrics, get_meter
from .observer import FrameObserver

if TYPE_CHECKING:
    from .processor import FrameProcessor
    from .task import PipelineTask

__all__ = ["PipelineMetrics"]

# Per-processor slots of the stats list.
_FRAMES, _BYTES, _AGE_SUM, _AGE_MAX, _SEEN_SUM, _SEEN_FRAMES = range(6)
_TURN_EVENTS = (
    UserStoppedSpeakingFrame,
    OutputAudioFrame,
    ResponseEndFrame,
    BotStoppedSpeakingFrame,
)


class PipelineMetrics(FrameObserver):
    """Pass it to ``PipelineTask(observers=[...])``; see the module docstring.

    ``turn_metrics``, ``provider``, ``latency_target`` and ``budget`` enable the per-turn
    metrics, labelled with ``provider``.
    """

    def __init__(
        self,
        meter_provider: MeterProvider | None = None,
        *,
        turn_metrics: S2SMetrics | None = None,
        provider: str = "pipeline",
        latency_target: str = "medium",
        budget: float = 1.0,
    ) -> None:
        self.stats: dict[FrameProcessor, list[int]] = {}
        self._audio_classes: dict[type, bool] = {}
        self._turns = turn_metrics
        self._turn_classes = _TURN_EVENTS if turn_metrics is not None else ()
        self.provider = provider
        self.latency_target = latency_target
        self.budget = budget
        self._turn_end_ns: int | None = None
        self._first_audio_ns: int | None = None
        self._stop_frame: Frame | None = None
        # The engine calls ``observer.on_push``: the closure set on the instance saves a
        # method call per frame.  mypy cannot type a method replaced on an instance (it
        # compares the closure with the unbound method), hence the ignore.
        on_push = self._make_on_push()
        self._on_push = on_push
        self.on_push = on_push  # type: ignore[method-assign, assignment]
        meter = get_meter(meter_provider)
        meter.create_observable_counter(
            "pipeline.frames", [self._observe_frames], unit="{frame}", description="Frames pushed"
        )
        meter.create_observable_counter(
            "pipeline.bytes", [self._observe_bytes], unit="By", description="Audio bytes pushed"
        )
        meter.create_observable_gauge(
            "pipeline.frame.transit_latency",
            [self._observe_latency],
            unit="ms",
            description="Mean frame age at push since the last collection",
        )
        meter.create_observable_gauge(
            "pipeline.frame.transit_latency.max",
            [self._observe_latency_max],
            unit="ms",
            description="Largest frame age at push since the last collection",
        )
        meter.create_observable_gauge(
            "pipeline.queue_depth",
            [self._observe_depth],
            unit="{frame}",
            description="Frames waiting in each processor's inbox",
        )

    def watch(self, task: PipelineTask) -> PipelineMetrics:
        """Know every processor of ``task`` up front (queue depth before the first push)."""
        for proc in task.processors:
            self.stats.setdefault(proc, [0, 0, 0, 0, 0, 0])
        return self

    # -- the hot path ------------------------------------------------------------------------

    def on_push(self, source: FrameProcessor, frame: Frame, direction: Direction) -> None:
        self._on_push(source, frame, direction)

    def _make_on_push(self) -> Callable[[FrameProcessor, Frame, Direction], None]:
        """The per-push function, as a closure over locals: no attribute lookups per frame.

        It replaces :meth:`on_push` on the instance, which is what the engine calls.
        """
        stats_get = self.stats.get
        stats = self.stats
        audio_classes = self._audio_classes
        turn_classes = self._turn_classes
        turn_frame = self._turn_frame
        now_ns = monotonic_ns

        def on_push(source: FrameProcessor, frame: Frame, direction: Direction) -> None:
            s = stats_get(source)
            if s is None:
                s = stats[source] = [0, 0, 0, 0, 0, 0]
            age = now_ns() - frame.created_ns
            s[0] += 1  # _FRAMES
            s[2] += age  # _AGE_SUM
            if age > s[3]:  # _AGE_MAX
                s[3] = age
            cls = frame.__class__
            is_audio = audio_classes.get(cls)
            if is_audio is None:
                is_audio = audio_classes[cls] = issubclass(cls, AudioFrame)
            if is_audio:
                s[1] += len(frame.audio)  # type: ignore[attr-defined]  # _BYTES
            if turn_classes and isinstance(frame, turn_classes):
                turn_frame(frame)

        return on_push

    # -- per turn ------------------------------------------------------------------------------

    def _turn_frame(self, frame: Frame) -> None:
        now = monotonic_ns()
        if isinstance(frame, UserStoppedSpeakingFrame):
            if frame is self._stop_frame:
                return  # the same frame, pushed on by a later processor
            self._stop_frame = frame
            self._turn_end_ns, self._first_audio_ns = now, None
        elif isinstance(frame, OutputAudioFrame):
            if self._turn_end_ns is not None and self._first_audio_ns is None:
                self._first_audio_ns = now
        elif isinstance(frame, ResponseEndFrame | BotStoppedSpeakingFrame):
            self._close_turn(now)

    def _close_turn(self, now: int) -> None:
        start, first = self._turn_end_ns, self._first_audio_ns
        if start is None or self._turns is None:
            return
        self._turn_end_ns = self._first_audio_ns = None
        self._turns.turn(
            self.provider,
            self.latency_target,
            self.budget,
            None if first is None else (first - start) / 1e9,
            (now - start) / 1e9,
        )

    # -- collection (runs in the metric reader, not per frame) ------------------------------

    def _observe_frames(self, options: CallbackOptions) -> Iterable[Observation]:
        for proc, stats in list(self.stats.items()):
            yield Observation(stats[_FRAMES], {"processor": proc.name})

    def _observe_bytes(self, options: CallbackOptions) -> Iterable[Observation]:
        for proc, stats in list(self.stats.items()):
            yield Observation(stats[_BYTES], {"processor": proc.name})

    def _observe_latency(self, options: CallbackOptions) -> Iterable[Observation]:
        for proc, stats in list(self.stats.items()):
            frames = stats[_FRAMES] - stats[_SEEN_FRAMES]
            if frames <= 0:
                continue
            mean_ns = (stats[_AGE_SUM] - stats[_SEEN_SUM]) / frames
            stats[_SEEN_FRAMES], stats[_SEEN_SUM] = stats[_FRAMES], stats[_AGE_SUM]
            yield Observation(mean_ns / 1e6, {"processor": proc.name})

    def _observe_latency_max(self, options: CallbackOptions) -> Iterable[Observation]:
        for proc, stats in list(self.stats.items()):
            if stats[_AGE_MAX]:
                yield Observation(stats[_AGE_MAX] / 1e6, {"processor": proc.name})
                stats[_AGE_MAX] = 0

    def _observe_depth(self, options: CallbackOptions) -> Iterable[Observation]:
        for proc in list(self.stats):
            yield Observation(proc.queue_depth, {"processor": proc.name})
