"""Frame types: the vocabulary every part of beluga-voice speaks.

Frames are small slotted dataclasses.  Three kinds exist, and the kind decides how the
engine treats a frame:

* **system** frames (start, cancel, interruption, speaking events, errors, metrics) take a
  priority lane: they overtake queued data and an interruption never drops them;
* **data** frames (audio, text, transcripts) stay ordered and are flushed by an interruption;
* **control** frames (end, turn boundaries) stay ordered with data and are flushed too.

A frame class that mixes in :class:`Uninterruptible` survives interruptions even though it
is a data or control frame (user audio and the end of the stream must never be lost).

Creating a frame has to be cheap, because a 20 ms audio stream makes fifty of them a second
per hop: no locks, no per-frame dict (``slots=True``) and no string formatting.  The only
work beyond storing fields is one ``time.monotonic_ns()`` call (for transit latency) and, for
audio, an integer check of the payload size.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from time import monotonic_ns
from typing import Any, ClassVar, Literal

__all__ = [
    "AudioEncoding",
    "AudioFrame",
    "BotStartedSpeakingFrame",
    "BotStoppedSpeakingFrame",
    "CancelFrame",
    "ControlFrame",
    "DataFrame",
    "Direction",
    "EndFrame",
    "ErrorFrame",
    "Frame",
    "FrameKind",
    "InputAudioFrame",
    "InputDTMFFrame",
    "InputMuteFrame",
    "InterruptionFrame",
    "MetricsFrame",
    "OutputAudioFrame",
    "ProviderSwitchedFrame",
    "ResponseEndFrame",
    "ResponseStartFrame",
    "SpeakFrame",
    "StartFrame",
    "SystemFrame",
    "TextFrame",
    "ToolCallFrame",
    "ToolResultFrame",
    "TranscriptionFrame",
    "Uninterruptible",
    "UserStartedSpeakingFrame",
    "UserStoppedSpeakingFrame",
    "UserTurnEndedFrame",
]


class Direction(enum.IntEnum):
    """Which way a frame travels: from input towards output, or back."""

    DOWNSTREAM = 0
    UPSTREAM = 1


class FrameKind(enum.IntEnum):
    SYSTEM = 0
    DATA = 1
    CONTROL = 2


AudioEncoding = Literal["pcm16", "pcmu", "pcma"]
"""How an audio frame's bytes are laid out: PCM16 (everywhere, by default), or G.711
mu-law / A-law (one byte a sample) when a telephone call is passed through untouched."""


@dataclass(slots=True)
class Frame:
    """Base of every frame.

    ``created_ns`` is a monotonic timestamp taken at construction; observers use it to
    measure how long a frame took to cross the pipeline.
    """

    kind: ClassVar[FrameKind] = FrameKind.DATA
    uninterruptible: ClassVar[bool] = False
    created_ns: int = field(default_factory=monotonic_ns, init=False, repr=False, compare=False)


class Uninterruptible:
    """Mixin marking a data or control frame class that an interruption must not drop."""

    __slots__ = ()
    uninterruptible: ClassVar[bool] = True


@dataclass(slots=True)
class SystemFrame(Frame):
    kind: ClassVar[FrameKind] = FrameKind.SYSTEM


@dataclass(slots=True)
class DataFrame(Frame):
    kind: ClassVar[FrameKind] = FrameKind.DATA


@dataclass(slots=True)
class ControlFrame(Frame):
    kind: ClassVar[FrameKind] = FrameKind.CONTROL


# -- system frames -------------------------------------------------------------------------


@dataclass(slots=True)
class StartFrame(SystemFrame):
    """First frame through a pipeline: tells processors the audio format in use."""

    input_sample_rate: int = 16000
    output_sample_rate: int = 24000
    channels: int = 1
    metadata: dict[str, Any] | None = None
    audio_encoding: AudioEncoding = "pcm16"
    """The encoding of the transports' audio: G.711 (``pcmu``/``pcma``) in a telephone
    pass-through pipeline, where the S2S processor hands the carrier's bytes to a provider
    that takes them as they are (see docs/transports.md, "G.711 end to end")."""


@dataclass(slots=True)
class CancelFrame(SystemFrame):
    """Stop now: processors drop what they hold and the runner tears the graph down."""

    reason: str = ""


@dataclass(slots=True)
class ErrorFrame(SystemFrame):
    """Something failed.  Sent upstream by the engine when a processor raises.

    ``fatal`` errors stop the pipeline; others are reported and the conversation goes on.
    ``code`` is a short machine-readable string (the S2S error codes for providers).
    """

    message: str
    code: str = "internal_error"
    fatal: bool = False
    source: str | None = None
    cause: BaseException | None = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class InterruptionFrame(SystemFrame):
    """Barge-in: drop queued bot output everywhere it passes."""


@dataclass(slots=True)
class UserStartedSpeakingFrame(SystemFrame):
    pass


@dataclass(slots=True)
class UserStoppedSpeakingFrame(SystemFrame):
    pass


@dataclass(slots=True)
class BotStartedSpeakingFrame(SystemFrame):
    pass


@dataclass(slots=True)
class BotStoppedSpeakingFrame(SystemFrame):
    """The bot finished or was cut off; ``played_ms`` is how much of its reply was heard."""

    played_ms: float = 0.0
    interrupted: bool = False


@dataclass(slots=True)
class MetricsFrame(SystemFrame):
    data: dict[str, float] = field(default_factory=dict)
    source: str | None = None


@dataclass(slots=True)
class ProviderSwitchedFrame(SystemFrame):
    """A resilience wrapper moved the conversation: to another provider (fallback), or to a
    new connection of the same one (``reason="reconnect"``).  ``replayed_ms`` is how much
    unanswered user audio was sent again so that nothing said was lost."""

    from_provider: str
    to_provider: str
    reason: str
    replayed_ms: float = 0.0


# -- data frames ---------------------------------------------------------------------------


@dataclass(slots=True)
class AudioFrame(DataFrame):
    """PCM16 little-endian interleaved audio (or G.711, see ``encoding``).

    The payload is validated here so that a bad chunk is a clear ``ValueError`` where it
    was made, not a crash in a resampler three processors later.  ``timestamp`` is the
    stream position in seconds, when the producer knows it.

    ``encoding`` is ``pcm16`` except in a G.711 pass-through pipeline (a telephony
    transport started with ``StartFrame(audio_encoding="pcmu")``, an S2S provider that
    takes mu-law as it is): the bytes are then the carrier's, one per sample, and only the
    transports and the S2S processor may handle them.
    """

    audio: bytes
    sample_rate: int
    channels: int = 1
    timestamp: float | None = None
    encoding: AudioEncoding = "pcm16"

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")
        if self.channels < 1:
            raise ValueError(f"channels must be at least 1, got {self.channels}")
        width = 2 if self.encoding == "pcm16" else 1
        if len(self.audio) % (width * self.channels):
            raise ValueError(
                f"audio has {len(self.audio)} bytes, not a multiple of "
                f"{width} bytes x {self.channels} channel(s) of {self.encoding}"
            )

    @property
    def sample_bytes(self) -> int:
        """Bytes per sample of one channel: 2 for PCM16, 1 for G.711."""
        return 2 if self.encoding == "pcm16" else 1

    @property
    def num_samples(self) -> int:
        """Samples per channel."""
        return len(self.audio) // (self.sample_bytes * self.channels)

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.num_samples / self.sample_rate


@dataclass(slots=True)
class InputAudioFrame(Uninterruptible, AudioFrame):
    """User audio.  Never dropped by an interruption: user speech must not be lost."""


@dataclass(slots=True)
class InputDTMFFrame(Uninterruptible, DataFrame):
    """A key the caller pressed on a phone keypad (``0-9``, ``*``, ``#``, ``A-D``).

    Telephony serializers make one per DTMF event of the carrier; it travels downstream
    with the user's audio, in order, and survives interruptions like that audio.
    ``duration_ms`` is how long the key was held, when the carrier says.
    """

    digit: str
    duration_ms: float | None = None


@dataclass(slots=True)
class OutputAudioFrame(AudioFrame):
    """Bot audio on its way to the speaker."""


@dataclass(slots=True)
class TextFrame(DataFrame):
    text: str


@dataclass(slots=True)
class SpeakFrame(DataFrame):
    """Text the bot must say verbatim (``VoiceSession.say``, external reasoning replies).

    A TextFrame reaching an S2S processor is the *user's* typed message; a SpeakFrame is
    the *bot's* line, voiced by the provider or by a TTS.
    """

    text: str


@dataclass(slots=True)
class TranscriptionFrame(DataFrame):
    """A transcript of what somebody said; ``final=False`` marks an interim result."""

    text: str
    final: bool = True
    role: Literal["user", "assistant"] = "user"
    language: str | None = None


@dataclass(slots=True)
class ToolCallFrame(DataFrame):
    """A model asks for a tool; the answer goes back as a :class:`ToolResultFrame`."""

    call_id: str
    name: str
    arguments: str


@dataclass(slots=True)
class ToolResultFrame(DataFrame):
    call_id: str
    output: str


# -- control frames ------------------------------------------------------------------------


@dataclass(slots=True)
class EndFrame(Uninterruptible, ControlFrame):
    """Graceful end: everything queued before it is processed first."""


@dataclass(slots=True)
class InputMuteFrame(Uninterruptible, ControlFrame):
    """Mute (``muted=True``) or unmute the user's audio towards the model, from this
    point of the stream on.

    Ordered with the audio (a control frame), so that it applies exactly where it was
    placed, and uninterruptible, so that a barge-in cannot drop an unmute.  The S2S
    processor sends silence in place of the user's audio while muted (a full-duplex model
    must keep hearing a stream) and tells providers that have a native mute.
    """

    muted: bool = True


@dataclass(slots=True)
class UserTurnEndedFrame(ControlFrame):
    """Turn detection decided the user finished their turn."""


@dataclass(slots=True)
class ResponseStartFrame(ControlFrame):
    """Opens a bot reply (the frames up to :class:`ResponseEndFrame` belong to it)."""


@dataclass(slots=True)
class ResponseEndFrame(ControlFrame):
    interrupted: bool = False
