"""Events a streaming S2S session yields.

A session is an async iterator of these.  They are deliberately provider-neutral: each
provider's protocol core maps its own server messages onto them, and the S2S processor
maps them onto pipeline frames.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from ..frames import AudioEncoding
from .errors import S2SError

__all__ = [
    "DELEGATE_TOOL",
    "AudioChunk",
    "Interrupted",
    "ProviderSwitched",
    "ResponseDone",
    "ResponseStarted",
    "SessionClosed",
    "SessionError",
    "SessionEvent",
    "SessionReady",
    "SessionReconnected",
    "SpeechStarted",
    "SpeechStopped",
    "ToolCall",
    "ToolCallCancelled",
    "Transcript",
    "Usage",
]


@dataclass(slots=True)
class SessionReady:
    """The provider accepted the session configuration (``session.updated``, ``setupComplete``)."""

    session_id: str | None = None


@dataclass(slots=True)
class AudioChunk:
    """A piece of the assistant's spoken reply, PCM16 at ``sample_rate``.

    ``is_final`` marks the last chunk of a response (its ``audio`` may be empty).  A chunk
    whose ``error`` is set carries no audio: the stream failed at this point.
    """

    audio: bytes
    sample_rate: int = 24000
    channels: int = 1
    is_final: bool = False
    response_id: str | None = None
    timestamp: float = field(default_factory=time.monotonic)
    error: S2SError | None = None
    encoding: AudioEncoding = "pcm16"
    """``pcm16``, or the G.711 law of a session switched to pass-through
    (:meth:`~beluga_voice.providers.base.StreamingSession.pass_through`)."""


@dataclass(slots=True)
class Transcript:
    """What the user said or what the assistant is saying; ``final=False`` is interim."""

    role: Literal["user", "assistant"]
    text: str
    final: bool = False
    item_id: str | None = None


@dataclass(slots=True)
class SpeechStarted:
    """The provider's voice detector heard the user start (a barge-in if the bot speaks)."""

    audio_start_ms: float | None = None


@dataclass(slots=True)
class SpeechStopped:
    audio_end_ms: float | None = None


@dataclass(slots=True)
class Interrupted:
    """The provider cut its own reply short: drop queued playback now."""

    response_id: str | None = None


@dataclass(slots=True)
class ResponseStarted:
    response_id: str | None = None


@dataclass(slots=True)
class ResponseDone:
    """A response ended.  ``status`` is completed, cancelled, failed or incomplete."""

    response_id: str | None = None
    status: Literal["completed", "cancelled", "failed", "incomplete"] = "completed"
    reason: str | None = None


@dataclass(slots=True)
class ToolCall:
    """The model wants a tool run.  Answer with ``session.send_tool_result(call_id, output)``."""

    call_id: str
    name: str
    arguments: str
    """JSON text of the arguments, as the model produced it."""

    def parsed_arguments(self) -> Any:
        import json

        return json.loads(self.arguments or "{}")


DELEGATE_TOOL = "delegate"
"""Name of the :class:`ToolCall` by which a model delegates reasoning to the application
(providers with ``capabilities.delegation``); its JSON arguments carry ``task``."""


@dataclass(slots=True)
class ToolCallCancelled:
    call_ids: tuple[str, ...] = ()


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class SessionError:
    """A provider error.  ``fatal`` errors end the session; others are informational."""

    error: S2SError
    fatal: bool = False


@dataclass(slots=True)
class SessionClosed:
    """The last event of every session."""

    reason: str = ""
    error: S2SError | None = None


@dataclass(slots=True)
class SessionReconnected:
    """A resilience wrapper reopened a dropped session with the same provider.

    ``error`` is the failure that caused it; ``replayed_bytes`` how much unanswered user
    audio was sent again, so that nothing the user said is lost.
    """

    provider: str
    attempt: int
    error: S2SError | None = None
    replayed_bytes: int = 0


@dataclass(slots=True)
class ProviderSwitched:
    """A fallback wrapper moved the conversation to another provider mid-session.

    ``reason`` is ``error``, ``latency``, ``stall`` or ``recovered`` (back to a preferred
    provider); ``error`` is set when a failure caused the switch.
    """

    from_provider: str
    to_provider: str
    reason: str
    error: S2SError | None = None
    replayed_bytes: int = 0


SessionEvent = (
    SessionReady
    | AudioChunk
    | Transcript
    | SpeechStarted
    | SpeechStopped
    | Interrupted
    | ResponseStarted
    | ResponseDone
    | ToolCall
    | ToolCallCancelled
    | Usage
    | SessionError
    | SessionClosed
    | SessionReconnected
    | ProviderSwitched
)
