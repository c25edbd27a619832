"""Shared test configuration: anyio on asyncio, and a pipeline runner helper."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import anyio
import pytest

from beluga_voice.frames import Frame
from beluga_voice.pipeline import Node, PipelineTask


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def run_pipeline(
    nodes: Node | Sequence[Node],
    frames: Iterable[Frame] = (),
    *,
    timeout: float = 10.0,
    **task_kwargs: object,
) -> tuple[list[Frame], PipelineTask]:
    """Run ``nodes`` with ``frames`` queued then an EndFrame; return what came out."""
    out: list[Frame] = []

    async def collect(frame: Frame) -> None:
        out.append(frame)

    task = PipelineTask(nodes, on_output=collect, **task_kwargs)  # type: ignore[arg-type]
    with anyio.fail_after(timeout):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            await task.queue_frames(frames)
            await task.stop_when_done()
    return out, task
