"""Resilience as wrapping processors: ``Retry(processor)`` and ``Fallback([...])``.

They wrap *any* processor (S2S, STT, agent, TTS, a user's); the wrapped processor does
not know.  See docs/resilience.md for the policy and what the user hears.
"""

from .fallback import Fallback
from .policy import FrameJournal, ResiliencePolicy, is_turn_done, is_turn_end
from .retry import Retry
from .wrapper import Failure, WrappingProcessor

__all__ = [
    "Failure",
    "Fallback",
    "FrameJournal",
    "ResiliencePolicy",
    "Retry",
    "WrappingProcessor",
    "is_turn_done",
    "is_turn_end",
]
