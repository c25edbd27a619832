"""Voice activity detection in plain numpy: analysers, a state machine, a stream detector.

Layers, each usable on its own:

* analysers (:mod:`.analyzers`, :mod:`.silero`): one frame in, speech confidence out;
* :class:`VoiceActivityTracker` (:mod:`.state`): confidences in, started / stopped /
  interrupt events out, with hysteresis;
* :class:`VADStream` / :func:`detect_speech` (:mod:`.stream`): any PCM16 stream in.

They sit on the ground floor because the speech-to-text side (``stt/``) segments speech
with them; the pipeline processor around them is
:class:`beluga_voice.processors.vad.VADProcessor`.
"""

from .analyzers import (
    Analyzer,
    EnergyAnalyzer,
    TenVADAnalyzer,
    WebRTCAnalyzer,
    analyze_frames,
    as_pcm16_frame,
)
from .silero import SileroVADAnalyzer
from .state import VADEvent, VADEventKind, VADParams, VADState, VoiceActivityTracker, volume
from .stream import SpeechSegment, VADStream, detect_speech

__all__ = [
    "Analyzer",
    "EnergyAnalyzer",
    "SileroVADAnalyzer",
    "SpeechSegment",
    "TenVADAnalyzer",
    "VADEvent",
    "VADEventKind",
    "VADParams",
    "VADState",
    "VADStream",
    "VoiceActivityTracker",
    "WebRTCAnalyzer",
    "analyze_frames",
    "as_pcm16_frame",
    "detect_speech",
    "volume",
]
