"""Tools: user handlers never block the event loop, and a slow one cannot hang a turn."""

from __future__ import annotations

import json
import threading

import anyio
import anyio.lowlevel
import pytest

from beluga_voice.agents.tools import Tool, ToolRegistry

pytestmark = pytest.mark.anyio


async def test_a_blocking_handler_runs_off_the_event_loop() -> None:
    release = threading.Event()
    loop_thread = threading.get_ident()
    seen: list[int] = []

    def lookup(city: str) -> dict[str, str]:
        seen.append(threading.get_ident())
        release.wait(10)  # a blocking call, as user code makes them
        return {"city": city, "weather": "sunny"}

    registry = ToolRegistry([Tool("weather", "the weather", lookup)])
    answer: list[str] = []
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:

            async def ask() -> None:
                answer.append(await registry.call("weather", '{"city": "Oslo"}'))

            tg.start_soon(ask)
            while not seen:  # the loop keeps running while the handler blocks
                await anyio.lowlevel.checkpoint()
            release.set()
    assert seen[0] != loop_thread
    assert json.loads(answer[0]) == {"city": "Oslo", "weather": "sunny"}


async def test_a_coroutine_handler_runs_on_the_loop() -> None:
    async def add(a: int, b: int) -> int:
        await anyio.lowlevel.checkpoint()
        return a + b

    assert await ToolRegistry([Tool("add", "adds", add)]).call("add", {"a": 2, "b": 3}) == "5"


@pytest.mark.parametrize("blocking", [False, True])
async def test_a_handler_slower_than_its_timeout_answers_with_an_error(blocking: bool) -> None:
    never = threading.Event()

    async def slow_async() -> str:
        await anyio.sleep_forever()
        return "never"

    def slow_sync() -> str:
        never.wait(5)
        return "late"

    tool = Tool("slow", "never answers", slow_sync if blocking else slow_async, timeout=0.05)
    with anyio.fail_after(5):
        answer = await ToolRegistry([tool]).call("slow", {})
    never.set()
    assert "no answer within 0.05 s" in json.loads(answer)["error"]
