"""Event-loop stalls caused by the local engines (issue 14).

Prints:

1. for a client blasting audio at the local provider as fast as it is taken (120 s of
   mostly-silent speech in 10 ms chunks), the longest and the 99th-percentile gap of a
   ticker that wants to wake every 5 ms on the same event loop (what every other session
   on the server sees), the most commands ever queued (the bound is ``INBOX_LIMIT``),
   and the audio throughput;
2. how long pocketsphinx holds the GIL in one call: the longest ``process_raw`` of a 20 ms
   piece, and ``end_utt`` (the end of an utterance) for utterances of several lengths,
   with the general English model and a domain model.  A call that holds the GIL stalls
   the event loop as surely as a blocking call on it.

    python benchmarks/native_stalls.py [--seconds 120]
"""

from __future__ import annotations

import argparse
import os
import time

import anyio

from beluga_voice.agents import RuleAgent
from beluga_voice.providers.config import S2SConfig
from beluga_voice.providers.events import ResponseStarted
from beluga_voice.providers.local import LocalS2SProvider
from beluga_voice.providers.local_session import INBOX_LIMIT, LocalSession
from beluga_voice.stt import PocketSphinxSTT
from beluga_voice.testing.loop_gaps import LoopGapMeter
from beluga_voice.tts import EspeakTTS

RATE = 16000
VOICE = EspeakTTS("en-us", sample_rate=RATE)


def caller_audio(seconds: float) -> bytes:
    """An utterance every 5 s, silence between: what a caller sounds like."""
    one = bytes(RATE) + VOICE.synthesize("hello")
    one += bytes(RATE * 10 - len(one))
    return (one * int(seconds // 5 + 1))[: int(seconds * RATE) * 2]


async def blaster(seconds: float) -> None:
    audio = caller_audio(seconds)
    step = RATE // 100 * 2  # 10 ms chunks
    provider = LocalS2SProvider(
        S2SConfig(reasoning_mode="external"), stt=PocketSphinxSTT(phrases=RuleAgent().phrases())
    )
    stop = anyio.Event()
    async with provider.stream() as session:
        assert isinstance(session, LocalSession)
        meter = LoopGapMeter(0.005, probe=lambda: session.queued)

        async def blast() -> None:
            for i in range(0, len(audio), step):
                await session.send_audio(audio[i : i + step])
            await session.send_text("hello")

        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            tg.start_soon(meter.run, stop)
            tg.start_soon(blast)
            async for event in session:
                if isinstance(event, ResponseStarted):
                    break
            stop.set()
        took = time.perf_counter() - start
    print(
        f"blaster: {seconds:.0f} s of audio in {len(audio) // step} chunks, taken in {took:.2f} s"
    )
    print(
        f"  ticker gap (wants 5 ms): max {1000 * meter.longest:.1f} ms, "
        f"p99 {1000 * meter.percentile(0.99):.1f} ms, median {1000 * meter.percentile(0.5):.1f} ms"
    )
    print(f"  most commands queued: {meter.peak} (bound {INBOX_LIMIT})")


def gil_holds() -> None:
    sentence = "what is two plus two and what is the weather in london today"
    for label, engine in (
        ("general", PocketSphinxSTT()),
        ("domain ", PocketSphinxSTT(phrases=RuleAgent().phrases())),
    ):
        for repeats in (1, 3):
            pcm = VOICE.synthesize(sentence) * repeats
            stream = engine.open_stream()
            dec = stream._decoder  # the native decoder, timed call by call
            dec.start_utt()  # type: ignore[attr-defined]
            longest = 0.0
            for i in range(0, len(pcm), 640):
                t = time.perf_counter()
                dec.process_raw(pcm[i : i + 640], False, False)  # type: ignore[attr-defined]
                longest = max(longest, time.perf_counter() - t)
            t = time.perf_counter()
            dec.end_utt()  # type: ignore[attr-defined]
            end = time.perf_counter() - t
            print(
                f"pocketsphinx {label} model, {len(pcm) / 2 / RATE:4.1f} s utterance: "
                f"longest 20 ms process_raw {1000 * longest:.1f} ms, end_utt {1000 * end:.0f} ms"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs")
    anyio.run(blaster, args.seconds)
    gil_holds()


if __name__ == "__main__":
    main()
