"""Engine throughput and latency.

1. Throughput: 20,000 frames of 20 ms 16 kHz PCM16 through 10 pass-through processors;
   prints frames/s and microseconds per frame per hop.  When ``pipecat-ai`` is importable
   (the ``bench`` extra), the same workload runs through Pipecat in the same process and
   the ratio is printed.
2. Paced latency: 100 concurrent pipelines, each fed 50 frames/s (real time), print the
   p50 / p99 transit latency (queued at the head -> out of the tail).  Run as shipped
   (idle processors take frames directly) and with ``direct_handoff=False`` (every hop a
   queue and a task wake-up), next to the same workload through bare asyncio futures, the
   floor of any task-per-hop design on the machine.

Run: ``.venv/bin/python benchmarks/pipeline_throughput.py [--frames N] [--seconds S]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Sequence

import anyio

from beluga_voice.frames import EndFrame, Frame, InputAudioFrame
from beluga_voice.pipeline import FrameObserver, FrameProcessor, PipelineTask

FRAME_BYTES = 640  # 20 ms of 16 kHz mono PCM16
HOPS = 10


async def beluga_throughput(
    frames: int = 20000, hops: int = HOPS, observers: Sequence[FrameObserver] = ()
) -> float:
    """Seconds to move ``frames`` audio frames through ``hops`` pass-through processors."""
    audio = bytes(FRAME_BYTES)
    done = anyio.Event()
    count = 0

    async def out(frame: Frame) -> None:
        nonlocal count
        if isinstance(frame, InputAudioFrame):
            count += 1
        elif isinstance(frame, EndFrame):
            done.set()

    task = PipelineTask([FrameProcessor() for _ in range(hops)], on_output=out, observers=observers)
    async with anyio.create_task_group() as tg:
        tg.start_soon(task.run)
        start = time.perf_counter()
        for _ in range(frames):
            await task.queue_frame(InputAudioFrame(audio, 16000))
        await task.stop_when_done()
        await done.wait()
        elapsed = time.perf_counter() - start
    assert count == frames, f"lost frames: {count} of {frames}"
    return elapsed


async def pipecat_throughput(frames: int = 20000, hops: int = HOPS) -> float | None:
    """The same workload through Pipecat, or None when it is not installed."""
    try:  # Pipecat logs every link and frame through loguru: keep warnings only
        import sys

        from loguru import logger

        logger.remove()
        logger.add(sys.stderr, level="WARNING")
    except ImportError:
        pass
    try:
        from pipecat.frames.frames import EndFrame as PcEnd
        from pipecat.frames.frames import InputAudioRawFrame
        from pipecat.pipeline.pipeline import Pipeline as PcPipeline
        from pipecat.pipeline.worker import PipelineParams, PipelineWorker
        from pipecat.processors.frame_processor import FrameDirection
        from pipecat.processors.frame_processor import FrameProcessor as PcProcessor
        from pipecat.workers.runner import WorkerRunner
    except ImportError:
        return None

    class PassThrough(PcProcessor):
        async def process_frame(self, frame, direction):  # type: ignore[no-untyped-def]
            await super().process_frame(frame, direction)
            await self.push_frame(frame, direction)

    class Count(PassThrough):
        n = 0

        async def process_frame(self, frame, direction):  # type: ignore[no-untyped-def]
            if isinstance(frame, InputAudioRawFrame) and direction == FrameDirection.DOWNSTREAM:
                Count.n += 1
            await super().process_frame(frame, direction)

    counter = Count()
    pipeline = PcPipeline([*(PassThrough() for _ in range(hops - 1)), counter])
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(),
        idle_timeout_secs=None,
        check_dangling_tasks=False,
        enable_rtvi=False,
        enable_turn_tracking=False,
    )
    runner = WorkerRunner(handle_sigint=False, check_dangling_tasks=False)
    await runner.add_workers(worker)
    audio = bytes(FRAME_BYTES)
    run = asyncio.ensure_future(runner.run())
    await asyncio.sleep(0.2)  # let Pipecat start its tasks (its own API has no ready event)
    start = time.perf_counter()
    for _ in range(frames):
        await worker.queue_frame(InputAudioRawFrame(audio=audio, sample_rate=16000, num_channels=1))
    await worker.queue_frame(PcEnd())
    await run
    elapsed = time.perf_counter() - start
    assert Count.n == frames, f"pipecat lost frames: {Count.n} of {frames}"
    return elapsed


async def paced_latency(
    pipelines: int = 100, rate: int = 50, seconds: float = 5.0, *, handoff: bool = True
) -> list[float]:
    """Transit latencies (s) of frames fed at ``rate`` per second into each pipeline."""
    latencies: list[float] = []
    audio = bytes(FRAME_BYTES)

    async def out(frame: Frame) -> None:
        if isinstance(frame, InputAudioFrame):
            latencies.append((time.monotonic_ns() - frame.created_ns) / 1e9)

    async def one(index: int) -> None:
        task = PipelineTask(
            [FrameProcessor() for _ in range(HOPS)], on_output=out, direct_handoff=handoff
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            period = 1.0 / rate
            next_at = anyio.current_time() + index * period / pipelines  # spread the phases
            for _ in range(int(seconds * rate)):
                await anyio.sleep_until(next_at)
                next_at += period
                await task.queue_frame(InputAudioFrame(audio, 16000))
            await task.stop_when_done()

    async with anyio.create_task_group() as tg:
        for i in range(pipelines):
            tg.start_soon(one, i)
    return latencies


async def asyncio_floor(pipelines: int = 100, rate: int = 50, seconds: float = 5.0) -> list[float]:
    """The same paced workload through the leanest possible task-per-hop chain: bare
    asyncio futures and lists, no frames, no checks.  Its latency is what the machine and
    the event loop cost; the engine's figures should be read against it."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    hops = HOPS + 2  # the engine's chain has a head and a tail too

    class Box:
        __slots__ = ("items", "waiter")

        def __init__(self) -> None:
            self.items: list[float] = []
            self.waiter: asyncio.Future[None] | None = None

        def put(self, x: float) -> None:
            self.items.append(x)
            if self.waiter is not None:
                if not self.waiter.done():
                    self.waiter.set_result(None)
                self.waiter = None

    async def relay(boxes: list[Box], i: int) -> None:
        box, nxt = boxes[i], boxes[i + 1] if i + 1 < hops else None
        while True:
            if not box.items:
                box.waiter = loop.create_future()
                await box.waiter
                continue
            x = box.items.pop(0)
            if nxt is None:
                latencies.append(time.monotonic() - x)
            else:
                nxt.put(x)

    async def produce(boxes: list[Box], index: int) -> None:
        period = 1.0 / rate
        next_at = loop.time() + index * period / pipelines
        for _ in range(int(seconds * rate)):
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at += period
            boxes[0].put(time.monotonic())

    async with anyio.create_task_group() as tg:
        chains = [[Box() for _ in range(hops)] for _ in range(pipelines)]
        for boxes in chains:
            for i in range(hops):
                tg.start_soon(relay, boxes, i)
        await asyncio.gather(*(produce(boxes, i) for i, boxes in enumerate(chains)))
        tg.cancel_scope.cancel()
    return latencies


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


async def main(frames: int, seconds: float, pipelines: int) -> None:
    await beluga_throughput(2000)  # warm up
    runs = []
    for _ in range(3):
        cpu = time.process_time()
        wall = await beluga_throughput(frames)
        runs.append((wall, time.process_time() - cpu))
    ours, ours_cpu = min(runs)
    fps = frames / ours
    print(f"beluga-voice: {frames} frames x {HOPS} hops in {ours:.3f} s")
    print(f"  throughput: {fps:,.0f} frames/s, {ours / frames / HOPS * 1e6:.2f} us/frame/hop")
    print(f"  cpu: {ours_cpu / frames / HOPS * 1e6:.2f} us/frame/hop (independent of load)")
    for label, handoff in (("paced", True), ("  paced, every hop queued", False)):
        cpu = time.process_time()
        lat = await paced_latency(pipelines, 50, seconds, handoff=handoff)
        busy = (time.process_time() - cpu) / seconds
        print(
            f"{label}: {pipelines} pipelines x 50 frames/s x {seconds:g} s, {len(lat)} frames: "
            f"p50 {statistics.median(lat) * 1e3:.3f} ms, p99 {pct(lat, 99) * 1e3:.3f} ms, "
            f"p99.9 {pct(lat, 99.9) * 1e3:.3f} ms, max {max(lat) * 1e3:.3f} ms, "
            f"{sum(x > 1e-3 for x in lat)} frames over 1 ms; "
            f"cpu {busy:.0%} of a core (producers included)"
        )
    cpu = time.process_time()
    floor = await asyncio_floor(pipelines, 50, seconds)
    busy = (time.process_time() - cpu) / seconds
    print(
        f"  task-per-hop floor (bare asyncio futures, same hops and pacing): p50 "
        f"{statistics.median(floor) * 1e3:.3f} ms, p99 {pct(floor, 99) * 1e3:.3f} ms; "
        f"cpu {busy:.0%} of a core"
    )
    # Pipecat last: it leaves tasks of its own running in this event loop.
    theirs = await pipecat_throughput(frames)
    if theirs is None:
        print("pipecat: not installed (pip install '.[bench]') - no comparison")
    else:
        print(f"pipecat: {frames / theirs:,.0f} frames/s ({theirs:.3f} s wall)")
        print(f"  ratio: beluga-voice is {theirs / ours:.1f}x pipecat's throughput")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--pipelines", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(main(args.frames, args.seconds, args.pipelines))
