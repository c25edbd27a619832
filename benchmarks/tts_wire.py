"""Client CPU of each streaming TTS per second of audio, against its local fake.

Run: ``.venv/bin/python benchmarks/tts_wire.py [--replies 20]``.

The fake runs on its own event loop in another thread, so the figure is the client's own
cost: ``time.thread_time()`` of the thread that runs the client (handshake, JSON and
base64 or the HTTP body, the timeline of alignment, the reply's tasks), divided by the
seconds of 24 kHz audio it received.  Each reply is one ~200-character answer streamed in
as an agent writes it (a few words per piece, a flush per sentence), at a speaking pace of
70 ms per character; the fakes send 50 ms of audio per message.  Bounded: ``--replies``
replies per service (a few seconds in all).
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel

from beluga_voice.testing.fake_cartesia import FakeCartesia
from beluga_voice.testing.fake_elevenlabs import FakeElevenLabs
from beluga_voice.testing.fake_openai_tts import FakeOpenAITTS
from beluga_voice.tts.cartesia import CartesiaTTS
from beluga_voice.tts.elevenlabs import ElevenLabsTTS
from beluga_voice.tts.openai_tts import OpenAITTS
from beluga_voice.tts.streaming import StreamingTTS

REPLY = (
    "Sure, I can help with that. Your order left the warehouse this morning, "
    "and it should arrive on Thursday. Would you like me to send the tracking "
    "number to your phone? "
)
PIECES = [w + " " for w in REPLY.split()]


class FakeThread:
    """Runs a fake server on its own loop in a daemon thread until :meth:`stop`."""

    def __init__(self, fake: Any) -> None:
        self.fake = fake
        self.ready = threading.Event()
        self._stop: anyio.Event | None = None
        self._portal: Any = None
        self.thread = threading.Thread(target=anyio.run, args=(self._main,), daemon=True)
        self.thread.start()
        self.ready.wait(10)

    async def _main(self) -> None:
        self._stop = anyio.Event()
        self._token = anyio.lowlevel.current_token()
        async with self.fake:
            self.ready.set()
            await self._stop.wait()

    def stop(self) -> None:
        assert self._stop is not None
        anyio.from_thread.run_sync(self._stop.set, token=self._token)
        self.thread.join(10)


async def one_reply(engine: StreamingTTS) -> int:
    received = 0
    async with engine.open_reply() as reply, anyio.create_task_group() as tg:

        async def pump() -> None:
            nonlocal received
            async for pcm in reply.audio():
                received += len(pcm)

        tg.start_soon(pump)
        for piece in PIECES:
            await reply.send(piece)
            if piece.rstrip().endswith((".", "?")):
                await reply.flush()
        await reply.end()
    return received


async def measure(make: Callable[[], StreamingTTS], replies: int) -> tuple[float, float]:
    """(client CPU ms per second of audio, wall seconds)."""
    engine = make()
    await one_reply(engine)  # warm up: imports, first handshake
    cpu0, wall0 = time.thread_time(), time.perf_counter()
    audio = 0
    for _ in range(replies):
        audio += await one_reply(engine)
    cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
    seconds = audio / 2 / engine.sample_rate
    return 1000 * cpu / seconds, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replies", type=int, default=20)
    args = parser.parse_args()
    services: list[tuple[str, Any, Callable[[Any], StreamingTTS]]] = [
        (
            "elevenlabs",
            FakeElevenLabs(ms_per_char=70, message_ms=50),
            lambda f: ElevenLabsTTS(api_key=f.api_key, base_url=f.base_url),
        ),
        (
            "cartesia",
            FakeCartesia(ms_per_char=70, message_ms=50),
            lambda f: CartesiaTTS(api_key=f.api_key, base_url=f.base_url),
        ),
        (
            "openai",
            FakeOpenAITTS(ms_per_char=70, message_ms=50),
            lambda f: OpenAITTS(api_key=f.api_key, base_url=f.base_url),
        ),
    ]
    audio_s = len(REPLY.strip()) * 0.07
    print(f"{args.replies} replies of {audio_s:.1f} s each (24 kHz), client thread CPU only")
    print(f"{'service':<12} {'CPU ms per audio s':>20} {'wall s':>8}")
    for name, fake, make in services:
        runner = FakeThread(fake)
        try:
            cost, wall = anyio.run(measure, lambda f=fake, m=make: m(f), args.replies)
        finally:
            runner.stop()
        print(f"{name:<12} {cost:>20.2f} {wall:>8.2f}")


if __name__ == "__main__":
    main()
