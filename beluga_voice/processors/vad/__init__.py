"""Voice activity detection in a pipeline: :class:`VADProcessor` and its frames.

The detection itself (analysers, :class:`~beluga_voice.audio.vad.VoiceActivityTracker`,
:class:`~beluga_voice.audio.vad.VADStream`) lives in :mod:`beluga_voice.audio.vad`; the
old names here still work for one release, with a DeprecationWarning.
"""

from ..._moved import moved_names
from ...audio import vad as _vad
from .processor import VADProcessor, VADStartedSpeakingFrame, VADStoppedSpeakingFrame

__all__ = ["VADProcessor", "VADStartedSpeakingFrame", "VADStoppedSpeakingFrame"]

__getattr__ = moved_names(__name__, "beluga_voice.audio.vad", _vad.__all__)
