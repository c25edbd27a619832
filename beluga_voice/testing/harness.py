"""Run a pipeline in a test or a script and get back what came out of it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import anyio

from ..frames import Frame
from ..pipeline import Node, PipelineTask

__all__ = ["run_pipeline"]


async def run_pipeline(
    nodes: Node | Sequence[Node],
    frames: Iterable[Frame] = (),
    *,
    timeout: float = 10.0,
    end: bool = True,
    until: Callable[[list[Frame]], bool] | None = None,
    **task_kwargs: Any,
) -> tuple[list[Frame], PipelineTask]:
    """Run ``nodes`` with ``frames`` queued, then an EndFrame (``end=True``).

    With ``until``, the EndFrame waits until ``until(output so far)`` is true: a provider
    answers asynchronously, so "the reply came back" is the natural point to end.  Returns
    the frames that left the end of the pipeline, and the task (for its errors).  Fails
    with ``TimeoutError`` after ``timeout`` seconds rather than hanging a test.
    """
    out: list[Frame] = []
    done = anyio.Event()

    async def collect(frame: Frame) -> None:
        out.append(frame)
        if until is not None and not done.is_set() and until(out):
            done.set()

    task = PipelineTask(nodes, on_output=collect, **task_kwargs)
    with anyio.fail_after(timeout):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            await task.queue_frames(frames)
            if until is not None:
                await done.wait()
            if end:
                await task.stop_when_done()
    return out, task
