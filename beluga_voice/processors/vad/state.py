"""Old home of :mod:`beluga_voice.audio.vad.state`; its names still work for one release."""

from ..._moved import moved_names
from ...audio.vad import state as _new

__getattr__ = moved_names(
    __name__, _new.__name__, [n for n in vars(_new) if not n.startswith("__")]
)
