"""What each latency target buys on the ``local`` provider: first reply after the end of
speech, and turns ended while the user was still talking.

Run: ``.venv/bin/python benchmarks/latency_targets.py`` (about a minute).

The provider is made exactly as ``S2SConfig(latency_target=...)`` makes it (see
``beluga_voice/providers/targets.py``), and fed the bundled speech corpus
(``beluga_voice/testing/speech_corpus.py``: espeak-ng sentences with pauses, clean, white
noise and babble at 20, 10 and 5 dB SNR), whose true speech segments are known.

* **First reply**: seconds from the true end of a sentence to the first audio of the reply
  it starts.  Audio is paced in real time from one second before each sentence's end until
  its reply's first audio (the end-of-turn wait is wall-clock time, as with a caller);
  elsewhere it is sent as fast as the session takes it.  Measured on the clean and 20 dB
  white-noise clips, where every sentence is found.
* **False turn ends**: the provider's ``SpeechStopped`` placed inside a true sentence (more
  than 50 ms before its end): the turn was ended under a talking user.  Counted over the
  whole corpus.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass, field

import anyio

from beluga_voice.providers.config import S2SConfig
from beluga_voice.providers.events import (
    AudioChunk,
    ResponseStarted,
    SessionEvent,
    SpeechStopped,
)
from beluga_voice.providers.local import LocalS2SProvider
from beluga_voice.providers.registry import bare_provider
from beluga_voice.testing.speech_corpus import LabelledClip, build_corpus

CHUNK_S = 0.02
LEAD_S = 1.0  # paced before a sentence's end
TAIL_S = 2.0  # at most this long paced after it, waiting for the reply


@dataclass
class Run:
    """What happened in one clip's session, on the wall clock."""

    ends_sent: dict[int, float] = field(default_factory=dict)
    """Sentence index -> wall time its true end was sent."""
    events: list[tuple[float, SessionEvent]] = field(default_factory=list)


def timed(clip: LabelledClip) -> bool:
    return clip.noise == "clean" or clip.name == "white@20dB"


async def run_clip(provider: LocalS2SProvider, clip: LabelledClip) -> Run:
    run = Run()
    pcm = clip.pcm
    step = int(clip.sample_rate * CHUNK_S) * 2
    ends = [b for _, b in clip.segments]

    async with provider.stream() as session:

        async def read() -> None:
            async for event in session:
                run.events.append((time.perf_counter(), event))

        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            anchor: float | None = None  # wall time minus audio time while paced
            for i in range(0, len(pcm), step):
                t = (i + step) / (2 * clip.sample_rate)  # audio time once this chunk is in
                window = timed(clip) and any(b - LEAD_S <= t <= b + TAIL_S for b in ends)
                if window:
                    if anchor is None:
                        anchor = time.perf_counter() - t
                    await anyio.sleep(max(0.0, anchor + t - time.perf_counter()))
                else:
                    anchor = None
                await session.send_audio(pcm[i : i + step])
                for k, b in enumerate(ends):
                    if k not in run.ends_sent and t >= b and anchor is not None:
                        run.ends_sent[k] = anchor + b
            await anyio.sleep(0.5)  # the last reply's first audio
            tg.cancel_scope.cancel()
    return run


def first_replies(run: Run) -> list[float]:
    """Per sentence end sent in real time: seconds to the first audio of the next reply."""
    out: list[float] = []
    for sent in sorted(run.ends_sent.values()):
        rid = next(
            (e.response_id for w, e in run.events if w >= sent and isinstance(e, ResponseStarted)),
            None,
        )
        first = next(
            (
                w
                for w, e in run.events
                if isinstance(e, AudioChunk) and e.audio and e.response_id == rid
            ),
            None,
        )
        if rid is not None and first is not None:
            out.append(first - sent)
    return out


def false_turn_ends(run: Run, clip: LabelledClip) -> int:
    stops = [e.audio_end_ms for _, e in run.events if isinstance(e, SpeechStopped)]
    return sum(
        1 for ms in stops if ms is not None for a, b in clip.segments if a < ms / 1000.0 < b - 0.05
    )


def p90(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=10)[-1] if len(xs) > 1 else xs[0]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--targets", default="low,medium,high")
    args = parser.parse_args()
    corpus = build_corpus()
    print(f"{len(corpus)} clips, {sum(len(c.segments) for c in corpus)} sentences")
    print(
        f"{'target':<7} {'vad':<7} {'silence':>8} {'replies':>8} {'median ms':>10} "
        f"{'p90 ms':>7} {'false ends':>11}"
    )
    for target in args.targets.split(","):
        provider = bare_provider("local", S2SConfig(latency_target=target))
        assert isinstance(provider, LocalS2SProvider)
        latencies: list[float] = []
        false_ends = 0
        for clip in corpus:
            run = await run_clip(provider, clip)
            latencies += first_replies(run)
            false_ends += false_turn_ends(run, clip)
        s = provider.settings
        median = 1000 * statistics.median(latencies) if latencies else float("nan")
        high = 1000 * p90(latencies) if latencies else float("nan")
        print(
            f"{target:<7} {s.vad:<7} {s.silence_ms:>6}ms {len(latencies):>8} "
            f"{median:>10.0f} {high:>7.0f} {false_ends:>11}"
        )


if __name__ == "__main__":
    anyio.run(main)
