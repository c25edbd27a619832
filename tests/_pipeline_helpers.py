"""Driving one S2S processor in a pipeline, shared by the Gemini and Nova pipeline tests."""

from __future__ import annotations

import anyio

from beluga_voice.frames import ErrorFrame, Frame, InputAudioFrame, ResponseEndFrame, StartFrame
from beluga_voice.pipeline import Node, PipelineTask
from beluga_voice.processors.s2s import S2SProcessor


async def converse(processor: S2SProcessor, audio: bytes, rate: int = 16000) -> list[Frame]:
    """Feed ``audio`` as 20 ms input frames; return the output up to the first reply's end."""
    out: list[Frame] = []
    done = anyio.Event()

    async def collect(frame: Frame) -> None:
        out.append(frame)
        if isinstance(frame, ResponseEndFrame):
            done.set()

    task = PipelineTask(
        [processor],
        start_frame=StartFrame(input_sample_rate=rate, output_sample_rate=24000),
        on_output=collect,
    )
    step = rate // 50 * 2
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            for i in range(0, len(audio), step):
                await task.queue_frame(InputAudioFrame(audio[i : i + step], rate))
            await done.wait()
            await task.stop_when_done()
    return out


async def run_until_error(
    nodes: list[Node], frames: list[Frame], timeout: float = 10.0
) -> tuple[list[Frame], PipelineTask]:
    """Run until the app hears of an error (then end), collecting the output."""
    out: list[Frame] = []
    told = anyio.Event()

    async def collect(frame: Frame) -> None:
        out.append(frame)

    async def on_error(frame: ErrorFrame) -> None:
        told.set()

    task = PipelineTask(nodes, on_output=collect, on_error=on_error)
    with anyio.fail_after(timeout):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            await task.queue_frames(frames)
            await told.wait()
            await task.stop_when_done()
    return out, task
