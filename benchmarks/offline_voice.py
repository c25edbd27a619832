"""Offline voice: recognition accuracy and reply latency of the local provider.

Prints:

1. the word error rate (WER) of the embedded recogniser (pocketsphinx) on the bundled
   example's prompts (``beluga_voice/data/example_conversation.*``), with the domain model
   the local provider builds from its rule agent and with the general English model, and
   on a wider set of rule-agent questions spoken by two voices;
2. the recogniser's real-time factor (decode time / audio time) for both models;
3. the time from the end of the user's speech to the first reply audio, for a ~2 s
   utterance fed at real-time pace into a local provider session, pinned to one CPU core.
   It includes the end-of-turn silence the endpointer waits for (``silence_ms``).

    python benchmarks/offline_voice.py [--runs 5] [--all-cores]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import wave
from collections.abc import Sequence
from pathlib import Path

import anyio

from beluga_voice.agents import RuleAgent
from beluga_voice.providers import events
from beluga_voice.providers.local import LocalS2SProvider
from beluga_voice.stt import PocketSphinxSTT, STTEngine
from beluga_voice.stt.utterance import UtteranceRecognizer
from beluga_voice.tts import EspeakTTS

DATA = Path(__file__).resolve().parent.parent / "beluga_voice" / "data"
RATE = 16000
WIDER_SET = (
    "hello", "good morning", "what time is it", "what is the time", "what is the date today",
    "what day is it", "help", "what can you do", "thank you", "goodbye", "what is your name",
    "what is two plus two", "what is nine minus four", "what is twelve times three",
    "what is seven divided by two", "what is forty plus eight", "what is six times seven",
    "what is one hundred minus one",
)  # fmt: skip


def word_errors(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Levenshtein distance over words (substitutions + deletions + insertions)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i]
        for j, h in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h)))
        prev = cur
    return prev[-1]


def recognise_stream(engine: STTEngine, pcm: bytes) -> tuple[list[str], float]:
    """Endpoint and recognise a whole recording; return the finals and the decode time."""
    rec = UtteranceRecognizer(engine.open_stream())
    finals: list[str] = []
    started = time.perf_counter()
    for i in range(0, len(pcm), 640):
        for ev in rec.feed(pcm[i : i + 640]):
            if ev.result is not None and ev.result.final and ev.result.text:
                finals.append(ev.result.text)
    return finals, time.perf_counter() - started


def wer_report(name: str, engine: STTEngine, refs: Sequence[str], pcm: bytes) -> None:
    finals, took = recognise_stream(engine, pcm)
    ref_words = " ".join(refs).split()
    errors = word_errors(ref_words, " ".join(finals).split())
    seconds = len(pcm) / (2 * RATE)
    print(
        f"  {name:<34} WER {100 * errors / len(ref_words):5.1f}% "
        f"({errors}/{len(ref_words)} words, {len(finals)}/{len(refs)} utterances), "
        f"RTF {took / seconds:.2f}"
    )


def spoken(texts: Sequence[str], voice: str) -> bytes:
    tts = EspeakTTS(voice, rate=150, sample_rate=RATE)
    pause = b"\0\0" * int(RATE * 1.2)
    return b"\0\0" * (RATE // 2) + b"".join(tts.synthesize(t) + pause for t in texts)


def accuracy() -> None:
    with wave.open(str(DATA / "example_conversation.wav")) as w:
        pcm = w.readframes(w.getnframes())
    refs = [line for line in (DATA / "example_conversation.txt").read_text().split("\n") if line]
    domain = PocketSphinxSTT(phrases=RuleAgent().phrases())
    general = PocketSphinxSTT()
    print(f"Word error rate, bundled example ({len(refs)} prompts, {len(pcm) / 32000:.1f} s):")
    wer_report("domain model (local provider)", domain, refs, pcm)
    wer_report("general English model", general, refs, pcm)
    for voice in ("en-us+f2", "en-us+m1"):
        print(f"Word error rate, {len(WIDER_SET)} rule-agent questions, voice {voice}:")
        audio = spoken(WIDER_SET, voice)
        wer_report("domain model (local provider)", domain, WIDER_SET, audio)
        wer_report("general English model", general, WIDER_SET, audio)


async def first_audio_latency(provider: LocalS2SProvider, speech: bytes) -> float:
    """Real-time feed; seconds from the last speech sample sent to the first reply audio."""
    chunk = 640
    tail = b"\0\0" * RATE * 2  # silence after speech, as a live microphone keeps sending
    audio = b"\0\0" * (RATE // 4) + speech + tail
    speech_end = (RATE // 4) * 2 + len(speech)
    end_time: float | None = None
    first: float | None = None

    async with provider.stream() as session:

        async def feed() -> None:
            nonlocal end_time
            t0 = time.perf_counter()
            for n, i in enumerate(range(0, len(audio), chunk)):
                await anyio.sleep(max(0.0, t0 + n * 0.02 - time.perf_counter()))
                await session.send_audio(audio[i : i + chunk])
                if end_time is None and i + chunk >= speech_end:
                    end_time = time.perf_counter()
                if first is not None:
                    return

        async with anyio.create_task_group() as tg:
            tg.start_soon(feed)
            with anyio.fail_after(10):
                async for event in session:
                    if isinstance(event, events.AudioChunk) and event.audio:
                        first = time.perf_counter()
                        break
            tg.cancel_scope.cancel()
    assert end_time is not None and first is not None
    return first - end_time


async def latency(runs: int) -> None:
    text = "what is twelve times three"
    speech = EspeakTTS("en-us+f2", rate=120, sample_rate=RATE).synthesize(text)
    provider = LocalS2SProvider()
    silence = provider.settings.silence_ms
    samples = [await first_audio_latency(provider, speech) for _ in range(runs)]
    print(
        f"First reply audio after end of speech ({len(speech) / 32000:.2f} s utterance, "
        f"real-time feed, endpointing silence {silence} ms, {runs} runs):"
    )
    print(
        f"  median {1000 * statistics.median(samples):.0f} ms, "
        f"min {1000 * min(samples):.0f} ms, max {1000 * max(samples):.0f} ms "
        f"(of which ~{silence} ms is waiting for silence; target < 1000 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--all-cores", action="store_true", help="do not pin to one core")
    args = parser.parse_args()
    if not args.all_cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        print("pinned to one CPU core")
    accuracy()
    anyio.run(latency, args.runs)


if __name__ == "__main__":
    main()
