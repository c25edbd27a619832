"""VAD accuracy table: per analyser and noise condition, segment F1 and timing errors.

Run: ``.venv/bin/python benchmarks/vad_accuracy.py``.  The corpus is espeak-ng speech
(see ``beluga_voice/testing/speech_corpus.py``): clean, white noise and babble at
20, 10 and 5 dB SNR.  Onset error is |detected start - true start|; offset error is the
latency of the stop decision after the true end, so it includes ``stop_secs`` (0.8 s by
default) on purpose.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from beluga_voice.audio.vad import (
    Analyzer,
    EnergyAnalyzer,
    SileroVADAnalyzer,
    TenVADAnalyzer,
    VADParams,
    WebRTCAnalyzer,
)
from beluga_voice.testing.speech_corpus import build_corpus
from beluga_voice.testing.vad_scoring import VADScore, score_clip

ANALYSERS: dict[str, Callable[[], Analyzer]] = {
    "energy": EnergyAnalyzer,
    "webrtc": WebRTCAnalyzer,
    "ten-vad": TenVADAnalyzer,
    "silero": SileroVADAnalyzer,
}


def fmt(x: float) -> str:
    return "   -" if math.isnan(x) else f"{x:4.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stop-secs", type=float, default=0.8)
    parser.add_argument("--start-secs", type=float, default=0.2)
    args = parser.parse_args()
    params = VADParams(start_secs=args.start_secs, stop_secs=args.stop_secs)
    corpus = build_corpus(snrs=(20.0, 10.0, 5.0))
    conditions: dict[str, list] = {}  # type: ignore[type-arg]
    for clip in corpus:
        conditions.setdefault(clip.name, []).append(clip)
    print(f"start_secs={params.start_secs} stop_secs={params.stop_secs}; {len(corpus)} clips")
    print(
        f"{'analyser':<8} {'condition':<12} {'F1':>5} {'prec':>5} {'rec':>5} "
        f"{'onset ms':>9} {'offset ms':>10}"
    )
    for name, make in ANALYSERS.items():
        for cond, clips in conditions.items():
            s = VADScore.combine([score_clip(c, make(), params) for c in clips])
            print(
                f"{name:<8} {cond:<12} {s.f1:5.2f} {s.precision:5.2f} {s.recall:5.2f} "
                f"{fmt(s.onset_err_ms):>9} {fmt(s.offset_err_ms):>10}"
            )


if __name__ == "__main__":
    main()
