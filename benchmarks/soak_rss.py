"""Memory a ``serve`` process keeps after a soak: RSS before, at the peak and after.

Starts ``beluga-voice serve`` (the ``local`` provider by default, ``--provider mock`` for
the scriptable one) on loopback, measures its resident memory, then runs ``--clients``
conversations (``--concurrency`` at a time): each asks a spoken question, hears the reply,
and hangs up; every third one hangs up in the middle of the reply.  When every session has
ended, it measures RSS again.  The difference is what the server retains per soak; the goal
is under 10 MB for 100 clients.  Loopback only; bounded in count and time.

    .venv/bin/python benchmarks/soak_rss.py
    .venv/bin/python benchmarks/soak_rss.py --clients 300 --provider mock
"""

from __future__ import annotations

import argparse
import contextlib
import re
import subprocess
import sys
from pathlib import Path

import anyio
from websockets.exceptions import WebSocketException

from beluga_voice.transports.websocket import WebSocketClient
from beluga_voice.tts.espeak import EspeakTTS

RATE = 16000
CHUNK = RATE * 2 // 50


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert match, status
    return int(match.group(1)) / 1024


async def conversation(url: str, pcm: bytes, cut: bool) -> None:
    with anyio.fail_after(60), contextlib.suppress(WebSocketException, OSError):
        async with WebSocketClient.connect(url) as client:
            for i in range(0, len(pcm), CHUNK):
                await client.send_audio(pcm[i : i + CHUNK])
            async for item in client:
                if cut and isinstance(item, bytes):
                    client.ws.transport.abort()  # hang up mid-reply
                    return
                if isinstance(item, dict) and item.get("type") == "bot.stopped_speaking":
                    return


async def main(args: argparse.Namespace) -> None:
    pcm = EspeakTTS(sample_rate=RATE).synthesize("what is two plus two") + bytes(RATE * 2)
    process = await anyio.open_process(
        [sys.executable, "-m", "beluga_voice.cli", "serve", "--port", "0", "-p", args.provider],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        banner = b""
        with anyio.fail_after(30):
            while b"\n" not in banner:
                banner += await process.stdout.receive()
        match = re.search(r"(ws://127\.0\.0\.1:\d+/)", banner.decode())
        assert match, banner
        url = match.group(1)
        await conversation(url, pcm, cut=False)  # warm-up: engines and pools loaded once
        before = rss_mb(process.pid)
        peak = before
        limit = anyio.CapacityLimiter(args.concurrency)

        async def one(i: int) -> None:
            nonlocal peak
            async with limit:
                await conversation(url, pcm, cut=i % 3 == 2)
                peak = max(peak, rss_mb(process.pid))

        async with anyio.create_task_group() as tg:
            for i in range(args.clients):
                tg.start_soon(one, i)
        await anyio.sleep(args.settle)  # let the server finish closing sessions
        after = rss_mb(process.pid)
        print(f"provider {args.provider}, {args.clients} clients, {args.concurrency} at a time")
        print(f"server RSS before {before:.1f} MB, peak {peak:.1f} MB, after {after:.1f} MB")
        print(f"retained after all sessions ended: {after - before:+.1f} MB")
    finally:
        process.terminate()
        with anyio.fail_after(10):
            await process.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--provider", default="local")
    parser.add_argument("--settle", type=float, default=2.0)
    anyio.run(main, parser.parse_args())
