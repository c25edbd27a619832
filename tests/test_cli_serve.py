"""``beluga-voice serve`` end to end: a real server process on loopback, a real client."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from beluga_voice.transports.websocket import WebSocketClient

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def serve(*options: str) -> AsyncIterator[str]:
    """A ``serve --port 0`` process; yields its start line, stops it on exit."""
    process = await anyio.open_process(
        [sys.executable, "-m", "beluga_voice.cli", "serve", "--port", "0", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        banner = b""
        with anyio.fail_after(20):
            while b"\n" not in banner:
                banner += await process.stdout.receive()
        yield banner.decode()
    finally:
        process.terminate()
        with anyio.fail_after(10):
            await process.wait()


async def test_serve_answers_a_websocket_client_with_the_local_provider() -> None:
    async with serve() as banner:
        match = re.search(r"serving local on (ws://127\.0\.0\.1:\d+/)", banner)
        assert match, banner
        assert "(picows)" in banner  # the default engine
        events: list[dict[str, object]] = []
        audio = 0
        with anyio.fail_after(20):
            async with WebSocketClient.connect(match.group(1)) as client:
                await client.send_text("what is two plus two")
                async for item in client:
                    if isinstance(item, bytes):
                        audio += len(item)
                    else:
                        events.append(item)
                        if item.get("type") == "bot.stopped_speaking":
                            break  # the reply was played out (audio is paced in real time)
        said = [e for e in events if e.get("type") == "transcript" and e.get("final", True)]
        assert [(e["role"], e["text"]) for e in said][-1] == ("assistant", "That is 4.")
        assert audio > 0, "the reply was spoken, not only written"


async def test_serve_runs_on_the_engine_asked_for() -> None:
    async with serve("--provider", "mock", "--engine", "websockets", "--loop", "asyncio") as banner:
        match = re.search(r"serving mock on (ws://127\.0\.0\.1:\d+/) \((\w+)\)", banner)
        assert match, banner
        assert match.group(2) == "websockets"
        with anyio.fail_after(20):
            async with WebSocketClient.connect(match.group(1)) as client:
                assert client.session["type"] == "session.started"


def test_serve_refuses_an_unknown_engine() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "beluga_voice.cli", "serve", "--port", "0", "--engine", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "unknown WebSocket engine 'nope'" in done.stderr


async def test_serve_answers_through_a_cascade_of_named_services() -> None:
    """``--stt``/``--tts`` serve an STT -> agent -> TTS cascade, one per session."""
    from beluga_voice.audio import read_wav_pcm16
    from beluga_voice.cli import example_path

    pcm, rate, _ = read_wav_pcm16(example_path())  # 16 kHz mono: the server's input rate
    async with serve("--stt", "pocketsphinx", "--tts", "espeak") as banner:
        match = re.search(r"serving pocketsphinx \+ espeak on (ws://127\.0\.0\.1:\d+/)", banner)
        assert match, banner
        said: list[tuple[str, str]] = []
        audio = 0
        with anyio.fail_after(60):
            async with WebSocketClient.connect(match.group(1)) as client:
                chunk = rate // 50 * 2  # 20 ms of PCM16
                for start in range(0, len(pcm), chunk):
                    await client.send_audio(pcm[start : start + chunk])
                async for item in client:
                    if isinstance(item, bytes):
                        audio += len(item)
                    elif item.get("type") == "transcript" and item.get("final", True):
                        said.append((str(item["role"]), str(item["text"])))
                    elif item.get("type") == "bot.stopped_speaking" and said:
                        break  # the first reply was played out
    # A turn heard and answered (the general pocketsphinx model need not get the words).
    assert [role for role, _ in said][:2] == ["user", "assistant"], said
    assert all(text.strip() for _, text in said[:2]), said
    assert audio > 0, "the cascade's TTS spoke the reply"


def test_serve_refuses_a_cascade_it_cannot_build() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "beluga_voice.cli", "serve", "--port", "0", "--stt", "pocketsphinx"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "needs both --stt and --tts" in done.stdout + done.stderr
