"""Real-time pacing accuracy of the output half on the real clock.

Plays ``--seconds`` of audio (default a full minute) through an output half with 20 ms
chunks and measures, for every chunk, when it was released against its ideal time
``t0 + n * 20 ms``.  Drift is the error of the last chunk; lateness is the spread of the
individual errors (how late single wake-ups were).  With absolute deadlines the drift is
one wake-up's lateness, not the sum of all of them.

    .venv/bin/python benchmarks/pacing_drift.py            # one minute
    .venv/bin/python benchmarks/pacing_drift.py --seconds 10
"""

from __future__ import annotations

import argparse
import os

import anyio
import numpy as np

from beluga_voice.frames import OutputAudioFrame, ResponseEndFrame, StartFrame
from beluga_voice.pipeline import PipelineTask
from beluga_voice.transports.testing import MemoryOutput

RATE = 16000


async def run(seconds: float) -> np.ndarray:
    out = MemoryOutput(lead_ms=0)  # no lead: every chunk waits for its own deadline
    task = PipelineTask(
        [out],
        start_frame=StartFrame(input_sample_rate=RATE, output_sample_rate=RATE),
        stop_timeout=seconds + 10,  # a graceful end plays everything out first
    )
    second = bytes(2 * RATE)
    async with anyio.create_task_group() as tg:
        tg.start_soon(task.run)
        for _ in range(int(seconds)):
            await task.queue_frame(OutputAudioFrame(second, RATE))
        await task.queue_frame(ResponseEndFrame())
        await task.stop_when_done()
    times = np.array([t for t, _ in out.chunks])
    return times - times[0] - np.arange(times.size) * 0.02


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    errors = anyio.run(run, args.seconds) * 1000
    print(f"chunks: {errors.size} x 20 ms = {errors.size * 0.02:g} s")
    print(f"drift at the end: {errors[-1]:+.3f} ms")
    print(
        f"per-chunk lateness: median {np.median(errors):.3f} ms, "
        f"p99 {np.percentile(errors, 99):.3f} ms, max {errors.max():.3f} ms"
    )
    slope = np.polyfit(np.arange(errors.size) * 0.02, errors, 1)[0]
    print(f"trend: {slope * 60:+.3f} ms per minute")


if __name__ == "__main__":
    main()
