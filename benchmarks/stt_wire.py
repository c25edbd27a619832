"""Client CPU of each streaming STT service per second of audio, against its local fake.

Run: ``.venv/bin/python benchmarks/stt_wire.py [--seconds 10] [--utterance 2]``.

Each client (Deepgram, OpenAI realtime transcription, OpenAI HTTP) streams ``--seconds``
of audio in 20 ms chunks, as utterances of ``--utterance`` seconds each finalized, and
waits for every final transcript.  The fake runs in a thread of its own with its own
event loop, so the figure is the CPU time of the client's thread alone
(``time.thread_time``): the wire cost of one stream, per second of audio (ms of CPU per
s of audio; the share of one core is that over 1000).  Audio is sent as fast as the
loop allows: pacing it at real time changes the wall time, not the work per second.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import anyio.from_thread

from beluga_voice.stt.base import AsyncSTTEngine
from beluga_voice.stt.deepgram import DeepgramSTT
from beluga_voice.stt.openai_http import OpenAIHTTPSTT
from beluga_voice.stt.openai_realtime import OpenAIRealtimeSTT
from beluga_voice.testing.fake_deepgram import FakeDeepgramServer
from beluga_voice.testing.fake_openai_stt import FakeOpenAITranscription
from beluga_voice.testing.fake_openai_stt_http import FakeTranscriptionHTTP
from beluga_voice.testing.speech import tone

KEY = "bench-key-0123456789"


class FakeThread:
    """Runs a fake's ``async with`` in a thread with its own event loop."""

    def __init__(self, make: Callable[[], AbstractAsyncContextManager[Any]]) -> None:
        self.make = make
        self.ready = threading.Event()
        self.fake: Any = None
        self._stop: anyio.Event | None = None
        self._portal: Any = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def serve() -> None:
            self._stop = anyio.Event()
            async with self.make() as fake:
                self.fake = fake
                self.ready.set()
                await self._stop.wait()

        with anyio.from_thread.start_blocking_portal() as portal:
            self._portal = portal
            portal.call(serve)

    def __enter__(self) -> Any:
        self._thread.start()
        if not self.ready.wait(10):
            raise RuntimeError("the fake did not start")
        return self.fake

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._portal.call(self._stop.set)
        self._thread.join(10)


async def stream_cpu(engine: AsyncSTTEngine, seconds: float, utterance_s: float) -> float:
    """Client-thread CPU ms per second of audio for one stream of ``seconds``."""
    rate = engine.sample_rate
    chunk = rate // 50 * 2
    speech = tone(utterance_s, rate, 300, 0.5)
    count = max(1, round(seconds / utterance_s))
    start = time.thread_time()
    async with engine.connect() as stream:
        finals = 0

        async def collect() -> None:
            nonlocal finals
            async for result in stream.results():
                if result.final:
                    finals += 1
                    if finals == count:
                        return

        async with anyio.create_task_group() as tg:
            tg.start_soon(collect)
            for _ in range(count):
                for i in range(0, len(speech), chunk):
                    await stream.send(speech[i : i + chunk])
                await stream.finalize()
    return 1000.0 * (time.thread_time() - start) / (count * utterance_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--utterance", type=float, default=2.0)
    args = parser.parse_args()
    cases: list[tuple[str, Callable[[], Any], Callable[[Any], AsyncSTTEngine]]] = [
        (
            "deepgram (16 kHz binary)",
            lambda: FakeDeepgramServer(["one two three four five"], idle_timeout=60),
            lambda fake: DeepgramSTT(api_key=KEY, base_url=fake.url),
        ),
        (
            "openai realtime (24 kHz base64 JSON)",
            lambda: FakeOpenAITranscription(["one two three four five"]),
            lambda fake: OpenAIRealtimeSTT(api_key=KEY, base_url=fake.base_url),
        ),
        (
            "openai-http (16 kHz WAV per utterance)",
            lambda: FakeTranscriptionHTTP(["one two three four five"]),
            lambda fake: OpenAIHTTPSTT(api_key=KEY, base_url=fake.base_url),
        ),
    ]
    print(f"client CPU per second of audio ({args.seconds:g} s, {args.utterance:g} s utterances)")
    for name, make_fake, make_engine in cases:
        with FakeThread(make_fake) as fake:
            engine = make_engine(fake)
            ms = anyio.run(stream_cpu, engine, args.seconds, args.utterance)
        print(f"  {name:40s} {ms:7.2f} ms CPU / s audio  ({ms / 10:.2f}% of a core)")


if __name__ == "__main__":
    main()
