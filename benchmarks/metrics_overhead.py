"""What the per-frame metrics observer costs.

Runs the engine workload of ``pipeline_throughput.py`` (20,000 frames of 20 ms 16 kHz
PCM16 through 10 pass-through processors) with and without
:class:`~beluga_voice.observability.PipelineMetrics`, alternating runs and keeping the best
of each, and prints the added cost per frame per hop.  A hop is one ``push_frame``: the
head and each of the 10 processors push every frame, so there are 11 per frame.  It also
times ``on_push`` alone in a tight loop, which isolates the observer from scheduling noise.
A collection through an in-memory reader at the end checks the counts are right.

Run: ``.venv/bin/python benchmarks/metrics_overhead.py [--frames N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import anyio
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline_throughput import HOPS, beluga_throughput

from beluga_voice.frames import Direction, InputAudioFrame
from beluga_voice.pipeline import FrameObserver, FrameProcessor
from beluga_voice.pipeline.metrics import PipelineMetrics


def _best_loop_ns(
    push: Callable[[FrameProcessor, InputAudioFrame, Direction], None],
    prefix: str,
    calls: int,
) -> float:
    """Best of five timings, in ns per call, of ``push`` over 10 processors and audio frames.

    One loop serves both the observer and the no-op, so that the subtraction in ``main``
    removes exactly the loop's own cost."""
    procs = [FrameProcessor(name=f"{prefix}{i}") for i in range(HOPS)]
    frame = InputAudioFrame(bytes(640), 16000)
    down = Direction.DOWNSTREAM
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter_ns()
        for _i in range(calls // HOPS):
            for proc in procs:
                push(proc, frame, down)
        best = min(best, (time.perf_counter_ns() - start) / calls)
    return best


def on_push_ns(observer: PipelineMetrics, calls: int = 200_000) -> float:
    """Nanoseconds per ``on_push`` call, in isolation (10 processors, audio frames)."""
    return _best_loop_ns(observer.on_push, "bench", calls)


def empty_loop_ns(calls: int = 200_000) -> float:
    """The same loop calling a no-op, to subtract the loop's own cost."""

    def push(proc: object, frame: object, direction: object) -> None:
        return None

    return _best_loop_ns(push, "noop", calls)


async def main(frames: int, repeat: int) -> None:
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    observer = PipelineMetrics(meters)
    pushes = HOPS + 1
    await beluga_throughput(2000)  # warm up
    noop = FrameObserver()
    base, dispatch, observed = float("inf"), float("inf"), float("inf")
    for _ in range(repeat):
        base = min(base, await beluga_throughput(frames))
        dispatch = min(dispatch, await beluga_throughput(frames, observers=[noop]))
        observed = min(observed, await beluga_throughput(frames, observers=[observer]))
    per_hop_us = (observed - base) / (frames * pushes) * 1e6
    dispatch_us = (dispatch - base) / (frames * pushes) * 1e6
    print(
        f"workload: {frames} frames x {HOPS} processors ({pushes} pushes per frame), best of {repeat}"
    )
    print(
        f"  without observer: {base * 1e3:8.1f} ms  ({base / (frames * pushes) * 1e6:.3f} us/frame/hop)"
    )
    print(
        f"  with observer:    {observed * 1e3:8.1f} ms  ({observed / (frames * pushes) * 1e6:.3f} us/frame/hop)"
    )
    print(f"  added cost:       {per_hop_us:.3f} us per frame per hop (end to end)")
    print(f"    of which the engine's observer dispatch (no-op observer): {dispatch_us:.3f} us")
    isolated = on_push_ns(PipelineMetrics(MeterProvider())) - empty_loop_ns()
    print(f"  on_push alone:    {isolated / 1000:.3f} us per call (loop cost subtracted)")
    data = reader.get_metrics_data()
    counted = 0
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == "pipeline.frames":
                    counted = max(p.value for p in metric.data.data_points)
    expected = repeat * (frames + 2)  # audio frames + Start + End per run
    print(f"  check: busiest processor counted {counted} frames (expected {expected})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    anyio.run(main, args.frames, args.repeat)
