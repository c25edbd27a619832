"""Shared helpers of the Gemini Live tests: a provider pointed at the fake, speech, events."""

from __future__ import annotations

from typing import Any

import anyio

from beluga_voice.providers.base import StreamingSession
from beluga_voice.providers.config import S2SConfig
from beluga_voice.providers.events import ResponseDone, SessionClosed, SessionEvent
from beluga_voice.providers.gemini_live import GeminiLiveProvider, GeminiLiveSession, GeminiSettings
from beluga_voice.testing.fake_gemini import FakeGeminiServer
from beluga_voice.testing.speech import tone

KEY = "AIzaSyTESTtestTESTtestTESTtest12345"
SPEECH = tone(0.4, 16000, level=0.3) + bytes(16000)  # 0.4 s of "speech", 0.5 s of silence
CHUNK = 640  # 20 ms at 16 kHz


def make_provider(
    server: FakeGeminiServer, *, config: dict[str, Any] | None = None, **settings: Any
) -> GeminiLiveProvider:
    cfg = S2SConfig(provider="gemini", api_key=KEY, timeout=5, **(config or {}))
    return GeminiLiveProvider(cfg, GeminiSettings(base_url=server.url, **settings))


async def send_pcm(session: StreamingSession, pcm: bytes, chunk: int = CHUNK) -> None:
    for i in range(0, len(pcm), chunk):
        await session.send_audio(pcm[i : i + chunk])


async def events_until(
    session: StreamingSession, done: type = ResponseDone, *, count: int = 1, timeout: float = 5.0
) -> list[SessionEvent]:
    """Events up to and including the ``count``-th event of type ``done`` (or the close)."""
    out: list[SessionEvent] = []
    seen = 0
    with anyio.fail_after(timeout):
        async for event in session:
            out.append(event)
            if isinstance(event, done):
                seen += 1
                if seen == count:
                    break
            if isinstance(event, SessionClosed):
                break
    return out


def of(events: list[SessionEvent], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


async def stream_then_text(
    server: FakeGeminiServer,
    audio: bytes,
    *,
    pace: float = 0.002,
    timeout: float = 10.0,
    **settings: Any,
) -> tuple[GeminiLiveSession, list[SessionEvent]]:
    """Send ``audio`` in 20 ms chunks, ``pace`` seconds apart, while the session reads;
    then a text turn, whose reply proves the server took in everything sent before it."""
    session = await make_provider(server, **settings).start_streaming()
    assert isinstance(session, GeminiLiveSession)
    events: list[SessionEvent] = []
    async with session:

        async def read() -> None:
            events.extend(await events_until(session, timeout=timeout))

        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            for i in range(0, len(audio), CHUNK):
                await session.send_audio(audio[i : i + CHUNK])
                await anyio.sleep(pace)  # a microphone's pace, not a synchronisation
            await session.send_text("that is all")
    return session, events
