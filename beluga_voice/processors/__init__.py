"""Processors: the building blocks between a transport's input and output halves.

* :class:`ResampleProcessor`: streaming sample-rate conversion (soxr);
* :class:`VADProcessor` and :class:`TurnProcessor`: voice activity, barge-in, end of turn;
* :class:`S2SProcessor`: a live speech-to-speech provider session;
* :class:`STTProcessor`, :class:`AgentProcessor`, :class:`TTSProcessor`: the cascade, with
  the agent as the insertion point for external reasoning.

The names are resolved on first use (PEP 562): importing one processor does not load the
engines of all the others, and modules below this package may import each other freely.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..audio.resample import StreamResampler
    from .agent import AgentProcessor
    from .latency import TurnLatency
    from .resample import ResampleProcessor
    from .resilience import Fallback, ResiliencePolicy, Retry
    from .s2s import S2SProcessor
    from .stt import STTProcessor
    from .tts import TTSProcessor
    from .turn import TurnProcessor
    from .vad import VADProcessor

_WHERE = {
    "AgentProcessor": ".agent",
    "Fallback": ".resilience",
    "ResiliencePolicy": ".resilience",
    "Retry": ".resilience",
    "ResampleProcessor": ".resample",
    "S2SProcessor": ".s2s",
    "STTProcessor": ".stt",
    "StreamResampler": "..audio.resample",
    "TTSProcessor": ".tts",
    "TurnLatency": ".latency",
    "TurnProcessor": ".turn",
    "VADProcessor": ".vad",
}

__all__ = [
    "AgentProcessor",
    "Fallback",
    "ResampleProcessor",
    "ResiliencePolicy",
    "Retry",
    "S2SProcessor",
    "STTProcessor",
    "StreamResampler",
    "TTSProcessor",
    "TurnLatency",
    "TurnProcessor",
    "VADProcessor",
]


def __getattr__(name: str) -> Any:
    try:
        module = _WHERE[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    return getattr(importlib.import_module(module, __name__), name)
