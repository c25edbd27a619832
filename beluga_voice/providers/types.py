"""Plain data types of the S2S provider API: formats, inputs, outputs, capabilities.

The conversation context moved to :mod:`beluga_voice.conversation`; its names still work
here for one release.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from .._moved import moved_names

__all__ = [
    "AudioFormat",
    "AudioInput",
    "AudioOutput",
    "ProviderCapabilities",
]

__getattr__ = moved_names(
    __name__,
    "beluga_voice.conversation",
    ["ConversationContext", "Turn", "new_conversation_context"],
)


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """How audio bytes are laid out.  beluga-voice moves PCM16 internally."""

    sample_rate: int = 24000
    channels: int = 1
    bit_depth: int = 16
    encoding: Literal["pcm", "pcmu", "pcma"] = "pcm"

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")
        if self.channels not in (1, 2):
            raise ValueError(f"channels must be 1 or 2, got {self.channels}")
        if self.bit_depth not in (8, 16, 24, 32):
            raise ValueError(f"bit_depth must be 8, 16, 24 or 32, got {self.bit_depth}")

    @property
    def frame_bytes(self) -> int:
        """Bytes per sample frame (one sample of every channel)."""
        return self.channels * self.bit_depth // 8

    def duration(self, nbytes: int) -> float:
        """Seconds of audio in ``nbytes`` bytes of this format."""
        return nbytes / (self.frame_bytes * self.sample_rate)


@dataclass(slots=True)
class AudioInput:
    """A complete utterance for one-shot :meth:`S2SProvider.process`."""

    data: bytes
    format: AudioFormat = field(default_factory=lambda: AudioFormat(sample_rate=16000))
    timestamp: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if len(self.data) % self.format.frame_bytes:
            raise ValueError(
                f"audio has {len(self.data)} bytes, not a multiple of the "
                f"{self.format.frame_bytes}-byte sample frame of {self.format}"
            )


@dataclass(slots=True)
class AudioOutput:
    """A provider's spoken answer (all of it, or one chunk of a stream)."""

    data: bytes
    format: AudioFormat = field(default_factory=AudioFormat)
    timestamp: float = field(default_factory=time.time)
    provider: str = ""
    latency: float = 0.0
    """Seconds from the end of the user's audio to the first byte of this output."""
    voice_characteristics: dict[str, Any] = field(default_factory=dict)
    transcript: str = ""


@dataclass(frozen=True, slots=True)
class ProviderCapabilities:
    """What a provider can do, so that processors adapt instead of guessing.

    ``input_sample_rates`` lists the rates the provider accepts (the first is preferred);
    the S2S processor resamples to and from them.
    """

    streaming: bool = True
    server_vad: bool = False
    barge_in_truncation: bool = False
    tools: bool = False
    text_input: bool = False
    speak_text: bool = False
    """Can voice a given text verbatim (needed for external reasoning without a TTS)."""
    transcripts: bool = False
    session_resumption: bool = False
    input_sample_rates: tuple[int, ...] = (16000,)
    output_sample_rate: int = 24000
    max_session_seconds: float | None = None
    delegation: bool = False
    """The model hands reasoning to the application as a ``ToolCall`` named ``delegate``
    (OpenAI GPT-Live client delegation): with external reasoning the agent answers those
    calls instead of every final user transcript."""
