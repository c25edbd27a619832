"""Clients that hang up at the worst moment never take the server down.

200 sessions on a real ``beluga-voice serve`` (the ``local`` provider: pocketsphinx and
espeak-ng in worker threads) drop their connection mid-speech, mid-recognition and
mid-reply; then one ordinary session must still get its answer.  A second server (in
process, so that its provider can be counted) drops 50 sessions while a tool call is running.
"""

from __future__ import annotations

import contextlib
import gc

import anyio
import pytest
from websockets.exceptions import WebSocketException

from beluga_voice.agents.tools import Tool, ToolRegistry
from beluga_voice.processors.s2s import S2SProcessor
from beluga_voice.providers.mock import AdvancedMockS2SProvider
from beluga_voice.testing.speech import tone
from beluga_voice.transports.websocket import ServerConfig, WebSocketClient, WebSocketServer

from ._support import Held, ask, chunks, final_transcripts, hang_up, serve_process, silence, speech

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(300)]

QUESTION = "what is two plus two"
_HEARD = ("user.stopped_speaking", "transcript")


async def _hang_up_mid(url: str, moment: str) -> None:
    """One session that is dropped at ``moment``: ``speech`` (half an utterance sent),
    ``turn`` (just after the server heard the end of the utterance, while it recognises),
    or ``reply`` (as the first reply audio arrives)."""
    pcm = speech(QUESTION)
    with anyio.fail_after(30), contextlib.suppress(WebSocketException, OSError):
        async with WebSocketClient.connect(url) as client:
            if moment == "reply":
                await client.send_text(QUESTION)
            else:
                parts = chunks(pcm)
                if moment == "speech":
                    parts = parts[: len(parts) // 2]
                else:
                    parts += chunks(silence(800))
                for chunk in parts:
                    await client.send_audio(chunk)
                if moment == "speech":
                    hang_up(client)
                    return
            async for item in client:
                heard = isinstance(item, dict) and item.get("type") in _HEARD
                if moment == "turn" and heard:
                    break
                if moment == "reply" and isinstance(item, bytes):
                    break
            hang_up(client)


async def test_two_hundred_hang_ups_leave_the_server_answering() -> None:
    async with serve_process() as server:
        moments = ["speech", "turn", "reply"]
        limit = anyio.CapacityLimiter(25)

        async def one(i: int) -> None:
            async with limit:
                await _hang_up_mid(server.url, moments[i % len(moments)])

        async with anyio.create_task_group() as tg:
            for i in range(200):
                tg.start_soon(one, i)
        server.assert_alive("while clients hung up")
        events = await ask(server.url, speech(QUESTION))
        assert final_transcripts(events, "assistant")[-1] == "That is 4."


async def test_hang_ups_during_tool_calls_release_everything() -> None:
    started = 0
    cancelled = 0
    entered = [anyio.Event()]  # the current session's: set when its tool call starts

    async def slow_lookup() -> str:
        nonlocal started, cancelled
        started += 1
        entered[-1].set()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled += 1
            raise
        return "never"

    provider = AdvancedMockS2SProvider(
        tool_calls={n: ("slow_lookup", "{}") for n in range(1, 100)},
        silence_ms=100,
        audio_outputs=[tone(0.2, 24000)],
    )
    tools = ToolRegistry([Tool("slow_lookup", "looks things up slowly", slow_lookup)])

    def build(transport):  # type: ignore[no-untyped-def]
        return [transport.input(), S2SProcessor(provider, tools=tools), transport.output()]

    config = ServerConfig(realtime=False, stop_timeout=1.0)
    async with WebSocketServer(build, config) as server:
        # Warm up once so that pools (worker threads, the event loop's own) exist before.
        await _tool_session(server.url, entered[-1])
        with anyio.fail_after(10):
            await server.wait_idle()
        gc.collect()
        before = Held.now()
        for _ in range(50):
            entered.append(anyio.Event())
            await _tool_session(server.url, entered[-1])
        with anyio.fail_after(10):
            await server.wait_idle()
        gc.collect()
        after = Held.now()
    assert started == 51
    assert cancelled == started, "every tool call in flight was cancelled with its session"
    assert provider.limiter.in_use == 0, "every provider slot was given back"
    assert after == before


async def _tool_session(url: str, entered: anyio.Event) -> None:
    with anyio.fail_after(10), contextlib.suppress(WebSocketException, OSError):
        async with WebSocketClient.connect(url) as client:
            for chunk in chunks(tone(0.3, 16000) + silence(300)):
                await client.send_audio(chunk)
            await entered.wait()
            hang_up(client)
