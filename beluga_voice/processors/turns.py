"""Old name of :mod:`beluga_voice.processors.latency` (``TurnLatency``); works for one release.

Renamed so that it no longer reads like a sibling of ``turn.py`` (the turn processor).
"""

from .._moved import moved_names
from . import latency as _new

__getattr__ = moved_names(
    __name__, _new.__name__, [n for n in vars(_new) if not n.startswith("__")]
)
