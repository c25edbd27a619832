"""What a streaming TTS protocol core looks like to the shell that runs it (sans I/O).

A core turns the caller's moves (start, text, flush, end, cancel) into the messages to
send, and each message received into :class:`Received` (audio, and whether the reply is
done), writing alignment onto the reply's timeline.  It raises
:class:`~beluga_voice.errors.S2SError` for a service error.  It never touches a socket,
which is what lets the tests drive it with arbitrary messages.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import ErrorCode, S2SError
from .alignment import Timeline

__all__ = ["PCM_RATES", "PCMDecoder", "Received", "WireCore", "check_voice", "json_object"]


PCM_RATES = (8000, 16000, 22050, 24000, 44100, 48000)
"""The raw PCM output rates both WebSocket voices offer."""


def check_voice(service: str, sample_rate: int, voice_id: str) -> None:
    """A rate the service offers and a voice: else ``invalid_config`` at construction."""
    if sample_rate not in PCM_RATES:
        raise S2SError(
            service,
            ErrorCode.INVALID_CONFIG,
            f"sample_rate must be one of {PCM_RATES}, got {sample_rate}",
        )
    if not voice_id:
        raise S2SError(service, ErrorCode.INVALID_CONFIG, "voice_id is empty")


@dataclass(slots=True)
class Received:
    audio: list[bytes] = field(default_factory=list)
    done: bool = False


class WireCore(Protocol):
    ended: bool
    """The caller said the reply's text is complete."""

    def start(self) -> list[str]: ...

    def text(self, text: str) -> list[str]: ...

    def flush(self) -> list[str]: ...

    def end(self) -> list[str]: ...

    def cancel(self) -> list[str]: ...

    def receive(self, data: str | bytes, timeline: Timeline) -> Received: ...


class PCMDecoder:
    """Base64 PCM16 chunks to whole samples: a chunk may end in the middle of a sample,
    whose first byte waits for the next chunk."""

    __slots__ = ("_carry", "service")

    def __init__(self, service: str) -> None:
        self.service = service
        self._carry = b""

    def decode(self, b64: Any) -> bytes:
        if not isinstance(b64, str):
            raise S2SError(self.service, ErrorCode.MALFORMED_RESPONSE, "audio that is not text")
        try:
            raw = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise S2SError(self.service, ErrorCode.MALFORMED_RESPONSE, "bad base64 audio") from None
        raw, self._carry = self._carry + raw, b""
        if len(raw) % 2:
            raw, self._carry = raw[:-1], raw[-1:]
        return raw


def json_object(data: str | bytes, service: str) -> dict[str, Any]:
    """A server message that must be a JSON object, or a ``malformed_response``."""
    try:
        msg = json.loads(data)
    except ValueError:
        raise S2SError(
            service, ErrorCode.MALFORMED_RESPONSE, "a message that is not JSON"
        ) from None
    if not isinstance(msg, dict):
        raise S2SError(service, ErrorCode.MALFORMED_RESPONSE, "a message that is not an object")
    return msg
