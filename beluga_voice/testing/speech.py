"""Speech helpers for tests and the fake provider servers.

:func:`tone`, :class:`EnergyTurnDetector` and :class:`TurnEvent` live in
:mod:`beluga_voice.audio.turns` (the mock provider uses them too); ``tone`` is re-exported
here as a test helper, the other two names still work here for one release.
"""

from .._moved import moved_names
from ..audio.turns import tone

__all__ = ["tone"]

__getattr__ = moved_names(__name__, "beluga_voice.audio.turns", ["EnergyTurnDetector", "TurnEvent"])
