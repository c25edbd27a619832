"""Voice activity detection: pluggable analysers, a state machine and a processor.

Layers, each usable on its own:

* analysers (:mod:`.analyzers`): one frame in, speech confidence out;
* :class:`VoiceActivityTracker` (:mod:`.state`): confidences in, started / stopped /
  interrupt events out, with hysteresis;
* :class:`VADStream` / :func:`detect_speech` (:mod:`.stream`): any PCM16 stream in;
* :class:`VADProcessor` (:mod:`.processor`): the same in a pipeline, emitting frames.
"""

from .analyzers import (
    Analyzer,
    EnergyAnalyzer,
    TenVADAnalyzer,
    WebRTCAnalyzer,
    analyze_frames,
    as_pcm16_frame,
)
from .processor import VADProcessor, VADStartedSpeakingFrame, VADStoppedSpeakingFrame
from .state import VADEvent, VADEventKind, VADParams, VADState, VoiceActivityTracker, volume
from .stream import SpeechSegment, VADStream, detect_speech

__all__ = [
    "Analyzer",
    "EnergyAnalyzer",
    "SpeechSegment",
    "TenVADAnalyzer",
    "VADEvent",
    "VADEventKind",
    "VADParams",
    "VADProcessor",
    "VADStartedSpeakingFrame",
    "VADState",
    "VADStoppedSpeakingFrame",
    "VADStream",
    "VoiceActivityTracker",
    "WebRTCAnalyzer",
    "analyze_frames",
    "as_pcm16_frame",
    "detect_speech",
    "volume",
]
