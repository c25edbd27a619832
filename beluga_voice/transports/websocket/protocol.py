"""Serializers: how frames become WebSocket messages and back (sans-I/O).

A serializer is plain code with no socket: it turns the frames that leave a pipeline into
messages for the peer, and the peer's messages into frames.  The server and client own the
socket.  That keeps every protocol testable (and fuzzable) without a network, and lets a
deployment swap the wire format (the default below, Twilio Media Streams, ...) without
touching the transport.

The default protocol is documented in ``docs/websocket-protocol.md``: binary messages are
PCM16 little-endian audio, text messages are JSON objects with a ``type``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from ...frames import (
    AudioEncoding,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    ErrorFrame,
    Frame,
    InputAudioFrame,
    InterruptionFrame,
    StartFrame,
    TextFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)

__all__ = [
    "PROTOCOL_VERSION",
    "DefaultSerializer",
    "EndRequest",
    "Message",
    "ProtocolError",
    "Serializer",
]

PROTOCOL_VERSION: Final = 1

Message = str | bytes
"""A WebSocket message: text (``str``) or binary (``bytes``)."""

CLOSE_POLICY: Final = 1008


class ProtocolError(ValueError):
    """The peer sent something the protocol does not allow.

    ``code`` is the machine-readable error code sent back in an ``error`` event.  When
    ``close_code`` is set the connection cannot go on and is closed with it.
    """

    def __init__(self, code: str, message: str, *, close_code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.close_code = close_code


@dataclass(frozen=True, slots=True)
class EndRequest:
    """The peer asked to end the session (not a frame: the server acts on it).

    ``graceful``: the pipeline finishes what it has (a reply owed is still answered and
    played); False when nobody is left to hear it (a phone carrier's ``stop``: the caller
    hung up), which stops the pipeline at once.
    """

    reason: str = "client_end"
    graceful: bool = True


class Serializer:
    """Base class of wire formats.  One instance serves one connection (it may keep state).

    ``input_sample_rate`` / ``output_sample_rate`` (None: the server's defaults) are the rates
    the peer speaks; the server starts the pipeline with them (and ``audio_encoding``).
    """

    input_sample_rate: int | None = None
    output_sample_rate: int | None = None
    channels: int = 1
    audio_encoding: AudioEncoding = "pcm16"
    """The encoding of the audio frames this serializer makes and takes (G.711 for a
    telephone call passed through untouched); the pipeline is started with it."""

    def greeting(self, start: StartFrame, session_id: str) -> list[Message]:
        """Messages to send when the session starts."""
        return []

    def farewell(self, reason: str) -> list[Message]:
        """Messages to send when the session ends (while the socket is still open)."""
        return []

    def serialize_audio(self, chunk: bytes) -> Message | None:
        """One chunk of bot audio (PCM16 at the output rate), paced by the output half."""
        raise NotImplementedError

    def audio_mark(self) -> Message | None:
        """A message to send right after each chunk of bot audio, or None.

        Telephony carriers echo such a mark back once the audio before it has played,
        which is how :meth:`played_seconds` learns what the caller heard.
        """
        return None

    def played_seconds(self) -> float | None:
        """How much of the interrupted reply the peer reported having played, or None
        when its protocol does not say (the output half's own pacing then counts)."""
        return None

    def serialize(self, frame: Frame) -> Message | None:
        """A non-audio frame for the peer, or None when the peer does not need it."""
        return None

    def error(self, code: str, message: str, *, fatal: bool = False) -> Message | None:
        """An error report for the peer, or None when the format has no way to say it."""
        return None

    def deserialize(self, message: Message) -> list[Frame | EndRequest]:
        """Frames (or an end request) from one peer message; :class:`ProtocolError` if bad."""
        raise NotImplementedError


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _text_field(event: dict[str, Any], name: str, limit: int) -> str:
    value = event.get(name)
    if not isinstance(value, str):
        raise ProtocolError("invalid_event", f"'{event['type']}' needs a string '{name}'")
    if len(value) > limit:
        raise ProtocolError(
            "invalid_event", f"'{name}' is {len(value)} characters; the limit is {limit}"
        )
    return value


class DefaultSerializer(Serializer):
    """The default protocol: PCM16 binary audio plus JSON events (see the module docs).

    ``max_audio_bytes`` bounds one binary message (default one second at 48 kHz stereo);
    the server's ``max_message_bytes`` bounds every message before it is even parsed.
    """

    def __init__(self, *, max_audio_bytes: int = 192_000, max_text_chars: int = 16_000) -> None:
        self.max_audio_bytes = max_audio_bytes
        self.max_text_chars = max_text_chars
        self._rate = 16000

    def greeting(self, start: StartFrame, session_id: str) -> list[Message]:
        self._rate = start.input_sample_rate
        self.channels = start.channels

        def fmt(rate: int) -> dict[str, Any]:
            return {"encoding": "pcm16le", "sample_rate": rate, "channels": start.channels}

        return [
            _dumps(
                {
                    "type": "session.started",
                    "protocol": PROTOCOL_VERSION,
                    "session_id": session_id,
                    "audio": {
                        "input": fmt(start.input_sample_rate),
                        "output": fmt(start.output_sample_rate),
                    },
                }
            )
        ]

    def farewell(self, reason: str) -> list[Message]:
        return [_dumps({"type": "session.ended", "reason": reason})]

    def serialize_audio(self, chunk: bytes) -> Message | None:
        return chunk

    def serialize(self, frame: Frame) -> Message | None:
        if isinstance(frame, TranscriptionFrame):
            return _dumps(
                {"type": "transcript", "role": frame.role, "text": frame.text, "final": frame.final}
            )
        if isinstance(frame, TextFrame):
            return _dumps({"type": "text", "text": frame.text})
        if isinstance(frame, InterruptionFrame):
            return _dumps({"type": "interrupted"})
        if isinstance(frame, BotStartedSpeakingFrame):
            return _dumps({"type": "bot.started_speaking"})
        if isinstance(frame, BotStoppedSpeakingFrame):
            return _dumps(
                {
                    "type": "bot.stopped_speaking",
                    "played_ms": round(frame.played_ms, 1),
                    "interrupted": frame.interrupted,
                }
            )
        if isinstance(frame, UserStartedSpeakingFrame):
            return _dumps({"type": "user.started_speaking"})
        if isinstance(frame, UserStoppedSpeakingFrame):
            return _dumps({"type": "user.stopped_speaking"})
        if isinstance(frame, ErrorFrame):
            return self.error(frame.code, frame.message, fatal=frame.fatal)
        return None

    def error(self, code: str, message: str, *, fatal: bool = False) -> Message | None:
        return _dumps({"type": "error", "code": code, "message": message, "fatal": fatal})

    def deserialize(self, message: Message) -> list[Frame | EndRequest]:
        if isinstance(message, bytes):
            return [self._audio(message)]
        try:
            event = json.loads(message)
        except (ValueError, RecursionError) as exc:
            raise ProtocolError("invalid_json", f"text message is not JSON: {exc}") from None
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise ProtocolError("invalid_event", "an event must be a JSON object with a 'type'")
        kind = event["type"]
        if kind == "text":
            return [TextFrame(_text_field(event, "text", self.max_text_chars))]
        if kind == "interrupt":
            return [InterruptionFrame()]
        if kind == "end":
            return [EndRequest()]
        raise ProtocolError("unknown_event", f"unknown event type {kind[:64]!r}")

    def _audio(self, data: bytes) -> InputAudioFrame:
        align = 2 * self.channels
        if not data or len(data) % align:
            raise ProtocolError(
                "invalid_audio",
                f"binary audio must be a non-empty multiple of {align} bytes "
                f"(PCM16 x {self.channels} channel(s)); got {len(data)}",
            )
        if len(data) > self.max_audio_bytes:
            raise ProtocolError(
                "invalid_audio",
                f"audio message of {len(data)} bytes exceeds {self.max_audio_bytes}",
            )
        return InputAudioFrame(data, self._rate, self.channels)
