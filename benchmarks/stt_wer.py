"""Word error rate of the embedded recogniser over a spread of synthetic voices and rates.

The local provider hears users through pocketsphinx with a domain model built from its
agent's phrases.  One voice at one rate says little about how it copes with people, so
this speaks the bundled example's prompts and everyday questions with several espeak-ng
voices at several speaking rates, adds white noise at a fixed signal-to-noise ratio
(seeded: every run hears the same audio), and recognises each utterance the way the
provider does (VAD endpointing in front of the decoder).  It prints WER and the share of
utterances recognised exactly, per voice and rate, and the words most often missed.

    python benchmarks/stt_wer.py                      # the full grid (about a minute)
    python benchmarks/stt_wer.py --quick              # two voices, one rate
    python benchmarks/stt_wer.py --model general      # the general English model
"""

from __future__ import annotations

import argparse
import collections
import os
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from offline_voice import word_errors

from beluga_voice.agents import RuleAgent
from beluga_voice.stt import PocketSphinxSTT, STTEngine
from beluga_voice.stt.utterance import UtteranceRecognizer
from beluga_voice.tts import EspeakTTS

RATE = 16000
DATA = Path(__file__).resolve().parent.parent / "beluga_voice" / "data"
VOICES = ("en-us", "en-gb", "en-us+f3", "en-us+m7", "en-gb-x-rp")
SPEEDS = (130, 165, 200)
EVERYDAY = (
    "what time is it", "help", "what can you do", "thank you", "good morning",
    "what is your name", "what day is it", "what is the time", "hi",
    "what is two plus two", "what is nine minus four", "what is forty plus eight",
    "what is seven divided by two", "what is six times seven", "what is one hundred minus one",
)  # fmt: skip


def prompts() -> list[str]:
    """The bundled example's prompts, then the everyday ones it does not already have."""
    bundled = [p for p in (DATA / "example_conversation.txt").read_text().splitlines() if p]
    return bundled + [p for p in EVERYDAY if p not in bundled]


def with_noise(pcm: bytes, snr_db: float, seed: int) -> bytes:
    """``pcm`` plus white noise ``snr_db`` below the speech's power (silence excluded from
    the power, so that padding does not make the noise quieter)."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    voiced = x[np.abs(x) > 0.02 * max(1.0, float(np.abs(x).max()))]
    power = float(np.mean(voiced**2)) if voiced.size else 1.0
    noise = np.random.default_rng(seed).normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), x.size)
    return np.clip(x + noise, -32768, 32767).astype("<i2").tobytes()


def recognise(engine: STTEngine, pcm: bytes) -> str:
    """Endpoint and recognise one utterance; all its finals joined."""
    rec = UtteranceRecognizer(engine.open_stream())
    finals: list[str] = []
    for i in range(0, len(pcm), 640):
        for ev in rec.feed(pcm[i : i + 640]):
            if ev.result is not None and ev.result.final and ev.result.text:
                finals.append(ev.result.text)
    finals += [ev.result.text for ev in rec.end_utterance() if ev.result and ev.result.text]
    return " ".join(finals)


def utterance(text: str, voice: str, speed: int, snr_db: float) -> bytes:
    speech = EspeakTTS(voice, rate=speed, sample_rate=RATE).synthesize(text)
    pcm = b"\0\0" * (RATE // 2) + speech + b"\0\0" * RATE
    return with_noise(pcm, snr_db, zlib.crc32(f"{voice}/{speed}/{text}".encode()))


def run_grid(
    engine: STTEngine, voices: Sequence[str], speeds: Sequence[int], snr_db: float, show: bool
) -> None:
    texts = prompts()
    missed: collections.Counter[str] = collections.Counter()
    total_err = total_words = total_ok = total_utts = 0
    audio_s = decode_s = 0.0
    print(f"{'voice':<12}" + "".join(f"{f'{s} wpm':>18}" for s in speeds))
    for voice in voices:
        cells = []
        for speed in speeds:
            err = words = ok = 0
            for text in texts:
                pcm = utterance(text, voice, speed, snr_db)
                t0 = time.perf_counter()
                heard = recognise(engine, pcm)
                decode_s += time.perf_counter() - t0
                audio_s += len(pcm) / (2 * RATE)
                ref = text.split()
                e = word_errors(ref, heard.split())
                err, words, ok = err + e, words + len(ref), ok + (e == 0)
                if e:
                    missed.update(w for w in ref if w not in heard.split())
                    if show:
                        print(f"    {voice} {speed}: {text!r} -> {heard!r}")
            cells.append(f"{100 * err / words:5.1f}% {ok:>2}/{len(texts)} ok")
            total_err, total_words = total_err + err, total_words + words
            total_ok, total_utts = total_ok + ok, total_utts + len(texts)
        print(f"{voice:<12}" + "".join(f"{c:>18}" for c in cells))
    print(
        f"overall: WER {100 * total_err / total_words:.1f}% ({total_err}/{total_words} words), "
        f"{total_ok}/{total_utts} utterances exactly right, RTF {decode_s / audio_s:.3f}"
    )
    if missed:
        print("most missed words: " + ", ".join(f"{w} {n}" for w, n in missed.most_common(8)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="two voices, one rate")
    parser.add_argument("--voices", nargs="+", help=f"espeak-ng voices (default {VOICES})")
    parser.add_argument("--speeds", nargs="+", type=int, help=f"wpm (default {SPEEDS})")
    parser.add_argument("--snr", type=float, default=20.0, help="signal-to-noise ratio, dB")
    parser.add_argument("--model", choices=("domain", "general"), default="domain")
    parser.add_argument("--show", action="store_true", help="print every wrong utterance")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    voices = args.voices or (VOICES[:2] if args.quick else VOICES)
    speeds = args.speeds or ((165,) if args.quick else SPEEDS)
    engine = (
        PocketSphinxSTT(phrases=RuleAgent().phrases())
        if args.model == "domain"
        else PocketSphinxSTT()
    )
    print(
        f"WER of pocketsphinx ({args.model} model), {len(prompts())} prompts, "
        f"white noise at {args.snr:g} dB SNR, one core"
    )
    run_grid(engine, voices, speeds, args.snr, args.show)


if __name__ == "__main__":
    main()
