"""One abusive client costs the others nothing.

A client blasting speech at 100 times real time into a ``local``-provider server must be
held back (backpressure), not queued without bound nor joined quadratically on the event
loop, while 20 real-time clients keep their added latency low.  Added latency is measured
as the WebSocket ping round trip of each real-time client: the server answers pings from
its event loop, so any stall of the loop shows up there, whatever the session is doing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process

from beluga_voice.transports.websocket import WebSocketClient

from ._support import ask, final_transcripts, serve_process, silence, speech

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]

SECONDS = 6.0
WARM_UP = 2.0
_TESTS = str(Path(__file__).resolve().parent.parent)
REALTIME_CLIENTS = 20


_BLASTER = """
import sys, anyio
sys.path.insert(0, {tests!r})
from chaos._support import CHUNK, chunks, silence, speech
from beluga_voice.transports.websocket import WebSocketClient

async def main():
    audio = chunks(speech("what is two plus two") + silence(700))
    async with WebSocketClient.connect({url!r}) as client:
        i = 0
        while True:  # 100 chunks of 20 ms per 20 ms of wall time, until killed
            for _ in range(100):
                await client.send_audio(audio[i % len(audio)])
                i += 1
            await anyio.sleep(0.02)

anyio.run(main)
"""


async def _blast(url: str) -> Process:
    """The abusive client, in a process of its own (as it would be on another machine), so
    that its busy loop does not delay the real-time clients measured here."""
    code = _BLASTER.format(tests=_TESTS, url=url)
    return await anyio.open_process([sys.executable, "-c", code], stderr=subprocess.DEVNULL)


async def _realtime(url: str, stop: anyio.Event, rtts: list[float], measuring: anyio.Event) -> None:
    """20 ms of quiet every 20 ms, and a ping every 100 ms whose round trip is recorded."""
    quiet = silence(20)
    async with WebSocketClient.connect(url) as client:

        async def drain() -> None:
            async for _ in client:
                pass

        async with anyio.create_task_group() as tg:
            tg.start_soon(drain)
            n = 0
            next_at = anyio.current_time()
            while not stop.is_set():
                await client.send_audio(quiet)
                n += 1
                if n % 5 == 0 and measuring.is_set():
                    start = anyio.current_time()
                    pong = await client.ws.ping()
                    with anyio.fail_after(10):
                        await pong
                    rtts.append(anyio.current_time() - start)
                next_at += 0.02
                await anyio.sleep(max(0.0, next_at - anyio.current_time()))
            tg.cancel_scope.cancel()


async def test_a_client_blasting_audio_does_not_slow_the_others() -> None:
    async with serve_process() as server:
        stop, measuring = anyio.Event(), anyio.Event()
        rtts: list[float] = []
        blaster = await _blast(server.url)
        try:
            async with anyio.create_task_group() as tg:
                for _ in range(REALTIME_CLIENTS):
                    tg.start_soon(_realtime, server.url, stop, rtts, measuring)
                # Steady state: every session started (starting one loads a recogniser,
                # a cost apart from this test) and the blaster at full speed.
                await anyio.sleep(WARM_UP)  # the experiment's schedule, not a synchronisation
                measuring.set()
                await anyio.sleep(SECONDS)
                stop.set()
            assert blaster.returncode is None, "the blaster was refused or dropped"
        finally:
            blaster.kill()
            await blaster.wait()
        server.assert_alive("under the blast")
        rtts.sort()
        p99 = rtts[int(len(rtts) * 0.99) - 1]
        assert len(rtts) > REALTIME_CLIENTS * SECONDS * 10 * 0.8, len(rtts)
        assert p99 < 0.050, (
            f"p99 added latency {p99 * 1000:.1f} ms (median {rtts[len(rtts) // 2] * 1000:.1f})"
        )
        # The server still answers an ordinary question afterwards.
        events = await ask(server.url, speech("what is two plus two"))
        assert final_transcripts(events, "assistant")[-1] == "That is 4."
