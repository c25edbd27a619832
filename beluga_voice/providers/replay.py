"""Old name of :mod:`beluga_voice.providers.resilient_session`; it works for one release.

The module holds :class:`ResilientSession` (the audio journal itself is in ``journal.py``),
so it was renamed after what it holds.
"""

from .._moved import moved_names
from . import resilient_session as _new

__getattr__ = moved_names(
    __name__, _new.__name__, [n for n in vars(_new) if not n.startswith("__")]
)
