"""SessionClosed is the last event of every session and comes exactly once, also when
another task closes the session while it is being iterated (issue 14, item 9)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio
import pytest
from _realtime_helpers import provider_for
from nova_support import nova

from beluga_voice.providers.base import StreamingSession
from beluga_voice.providers.events import SessionClosed, SessionError, SessionEvent, SessionReady
from beluga_voice.testing.fake_bedrock import FakeBedrock
from beluga_voice.testing.fake_realtime import FakeRealtimeServer

pytestmark = pytest.mark.anyio

Opener = Callable[[], AbstractAsyncContextManager[StreamingSession]]


@asynccontextmanager
async def _realtime(flavour: str) -> AsyncIterator[StreamingSession]:
    name = "grok" if flavour == "grok" else "openai_realtime"
    async with FakeRealtimeServer(flavour) as fake:  # type: ignore[arg-type]
        session = await provider_for(fake, name).start_streaming()
        yield session


@asynccontextmanager
async def _nova() -> AsyncIterator[StreamingSession]:
    async with FakeBedrock() as fake:
        session = await nova(fake).start_streaming()
        yield session


OPENERS: dict[str, Opener] = {
    "openai_realtime": lambda: _realtime("openai"),
    "grok": lambda: _realtime("grok"),
    "amazon_nova": _nova,
}


@pytest.mark.parametrize("name", list(OPENERS))
async def test_close_from_another_task_ends_the_iteration_with_one_session_closed(
    name: str,
) -> None:
    async with OPENERS[name]() as session:
        events: list[SessionEvent] = []
        ready = anyio.Event()

        async def read() -> None:
            async for event in session:
                events.append(event)
                if isinstance(event, SessionReady):
                    ready.set()

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(read)
                await ready.wait()
                await anyio.wait_all_tasks_blocked()  # the reader waits on the wire
                await session.close()
    closed = [e for e in events if isinstance(e, SessionClosed)]
    assert len(closed) == 1, events
    assert events[-1] is closed[0] and closed[0].error is None
    assert not [e for e in events if isinstance(e, SessionError)]


@pytest.mark.parametrize("name", list(OPENERS))
async def test_iterating_after_close_yields_session_closed_once(name: str) -> None:
    async with OPENERS[name]() as session:
        await session.close()
        with anyio.fail_after(5):
            events = [event async for event in session]
            again = [event async for event in session]
    assert isinstance(events[-1], SessionClosed)
    assert sum(isinstance(e, SessionClosed) for e in events) == 1
    assert again == []
