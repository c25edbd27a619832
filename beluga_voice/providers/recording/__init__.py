"""Record a provider session and replay it deterministically (see docs/testing.md).

:class:`RecordingProvider` wraps any streaming provider and writes each session to a
recording (JSON lines plus an audio sidecar, secrets redacted); the ``replay`` provider
(:class:`ReplayProvider`) plays a recording back against the same user input, on the
recording's own clock, and fails loudly with a readable diff when the input diverges.
"""

from .format import Entry, Recording, RecordingWriter
from .playback import ReplayDivergence, ReplayProvider, ReplaySession, ReplaySettings
from .record import RecordingProvider, RecordingSession

__all__ = [
    "Entry",
    "Recording",
    "RecordingProvider",
    "RecordingSession",
    "RecordingWriter",
    "ReplayDivergence",
    "ReplayProvider",
    "ReplaySession",
    "ReplaySettings",
]
