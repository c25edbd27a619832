"""Shared pieces of the chaos suite: speech, a real ``serve`` process, abrupt hang-ups, and
a count of what a process holds (tasks, threads, file descriptors)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
from anyio.abc import Process

from beluga_voice.transports.websocket import WebSocketClient

RATE = 16000
CHUNK = RATE * 2 // 50  # 20 ms of PCM16 mono at 16 kHz


@functools.cache
def speech(text: str, rate: int = RATE) -> bytes:
    """``text`` spoken by the embedded voice at ``rate`` (cached: one synthesis per text)."""
    from beluga_voice.tts.espeak import EspeakTTS

    return EspeakTTS(sample_rate=rate).synthesize(text)


def silence(ms: int, rate: int = RATE) -> bytes:
    return bytes(rate * 2 * ms // 1000)


def chunks(pcm: bytes, size: int = CHUNK) -> list[bytes]:
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


@dataclass(slots=True)
class ServeProcess:
    url: str
    process: Process
    stderr: bytearray

    def assert_alive(self, when: str) -> None:
        # The return code is set only once the child is reaped; a dead child that was not
        # reaped yet is a zombie ("Z") in /proc.
        try:
            with open(f"/proc/{self.process.pid}/stat") as stat:
                state = stat.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            state = "gone"
        alive = self.process.returncode is None and state not in ("Z", "X", "gone")
        assert alive, f"the server died {when}:\n{self.stderr.decode()[-4000:]}"


@contextlib.asynccontextmanager
async def serve_process(*args: str) -> AsyncIterator[ServeProcess]:
    """A real ``beluga-voice serve`` process on a free loopback port.

    A separate process, so that a native crash (SIGSEGV) is a failed assertion with the
    server's stderr, not a dead test run.
    """
    process = await anyio.open_process(
        [
            sys.executable,
            "-X",
            "faulthandler",
            "-m",
            "beluga_voice.cli",
            "serve",
            "--port",
            "0",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stderr = bytearray()

    async def collect() -> None:
        assert process.stderr is not None
        with contextlib.suppress(anyio.EndOfStream, anyio.ClosedResourceError):
            async for data in process.stderr:
                stderr.extend(data[: max(0, 200_000 - len(stderr))])

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(collect)
            assert process.stdout is not None
            banner = b""
            with anyio.fail_after(30):
                while b"\n" not in banner:
                    banner += await process.stdout.receive()
            match = re.search(r"(ws://127\.0\.0\.1:\d+/)", banner.decode())
            assert match, banner
            served = ServeProcess(match.group(1), process, stderr)
            try:
                yield served
                served.assert_alive("during the test")
            finally:
                if process.returncode is None:
                    process.terminate()
                with anyio.fail_after(15):
                    await process.wait()
                tg.cancel_scope.cancel()
    finally:
        if process.returncode is None:
            process.kill()


def hang_up(client: WebSocketClient) -> None:
    """Drop the connection the way a phone hangs up: no close handshake, just gone."""
    client.ws.transport.abort()


async def ask(url: str, pcm: bytes, *, timeout: float = 30) -> list[dict[str, object]]:
    """One whole spoken turn: send ``pcm`` (then quiet), return the events up to the end of
    the reply's playback."""
    events: list[dict[str, object]] = []
    with anyio.fail_after(timeout):
        async with WebSocketClient.connect(url) as client:
            for chunk in chunks(pcm + silence(1200)):
                await client.send_audio(chunk)
            async for item in client:
                if isinstance(item, dict):
                    events.append(item)
                    if item.get("type") == "bot.stopped_speaking":
                        break
    return events


def final_transcripts(events: list[dict[str, object]], role: str) -> list[object]:
    return [
        e["text"]
        for e in events
        if e.get("type") == "transcript" and e.get("role") == role and e.get("final", True)
    ]


@dataclass(frozen=True, slots=True)
class Held:
    """What a process holds: compare before and after to find a leak."""

    tasks: int
    threads: int
    fds: int

    @classmethod
    def now(cls) -> Held:
        return cls(
            tasks=len(asyncio.all_tasks()),
            threads=threading.active_count(),
            fds=len(os.listdir("/proc/self/fd")),
        )
