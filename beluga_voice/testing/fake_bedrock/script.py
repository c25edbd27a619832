"""What the fake Bedrock says, what it injects, and what it records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Injection", "OpenFailure", "Script", "StreamRecord"]


@dataclass(slots=True)
class OpenFailure:
    """Refuse the next stream with an HTTP error, as Bedrock does for a bad request.

    ``keep_open`` sends the refusal's headers and body but never ends the response (a
    broken server or proxy): a client must not wait for that end without a deadline.
    """

    status: int = 429
    error_type: str = "ThrottlingException"
    message: str = "Too many requests, please wait before trying again."
    keep_open: bool = False


@dataclass(slots=True)
class Injection:
    """A fault on the ``stream``-th stream (1-based, any if None), once its audio reaches
    ``after_audio_bytes``.

    ``exception`` sends an ``:message-type=exception`` frame and ends the stream; ``stall``
    stops answering (the stream stays open); ``reset`` sends RST_STREAM; ``end_stream``
    ends the server's side cleanly, like Bedrock's stream time limit; ``deaf`` stops
    reading: no more HTTP/2 flow-control credit is granted, so the client's sends block.
    """

    kind: Literal["exception", "stall", "reset", "end_stream", "deaf"]
    after_audio_bytes: int = 0
    exception_type: str = "throttlingException"
    message: str = "Rate exceeded"
    stream: int | None = None
    fired: bool = False


@dataclass(slots=True)
class Script:
    """Scripted replies.  A user turn ends after ``silence_ms`` of quiet following speech
    (or with a typed USER text block); the fake then answers ``reply_text`` with
    ``reply_seconds`` of tone, streamed in ``chunk_ms`` chunks every ``pace * chunk_ms``.
    ``tool_turns`` maps a 1-based turn number to ``(tool name, JSON arguments)``: on that turn
    the fake asks for the tool first and answers with the tool's result in its reply text.
    """

    reply_text: str = "Hello from the fake Nova."
    user_text: str = "what the user said"
    reply_seconds: float = 0.4
    chunk_ms: int = 40
    pace: float = 0.0
    silence_ms: float = 300.0
    speech_rms: float = 500.0
    tool_turns: dict[int, tuple[str, str]] = field(default_factory=dict)


@dataclass(slots=True)
class StreamRecord:
    """Everything one stream received, for assertions."""

    number: int
    path: str = ""
    status: int = 0
    events: list[str] = field(default_factory=list)
    system_prompt: str = ""
    history: list[tuple[str, str]] = field(default_factory=list)
    prompt_start: dict[str, Any] = field(default_factory=dict)
    session_start: dict[str, Any] = field(default_factory=dict)
    audio: bytearray = field(default_factory=bytearray, repr=False)
    tool_results: list[tuple[str, str]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    spoken: list[str] = field(default_factory=list)
    """Texts the client asked to be read aloud (``<say>`` requests)."""
    frames_verified: int = 0
    end_marker: bool = False
    """The client sent the signed empty envelope that ends the events."""
    client_ended: bool = False
    """The client sent END_STREAM."""
    error: str | None = None
    ended_by_server: bool = False
    """An injected fault ended the stream (end_stream, reset, exception)."""
    turns: int = 0
    barge_ins: int = 0
