"""One Bedrock stream of a session ("leg"), and how a client event is framed on it."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import ErrorCode, S2SError
from ..events import SessionEvent
from .eventstream import EventStreamDecoder, EventStreamError, encode_message
from .faults import exception_error
from .protocol import NovaProtocol
from .signing import ChunkSigner
from .transport import H2Stream

__all__ = ["Leg", "inner_message"]


@dataclass(slots=True)
class Leg:
    """One Bedrock stream of the session."""

    number: int
    stream: H2Stream
    protocol: NovaProtocol
    signer: ChunkSigner
    decoder: EventStreamDecoder = field(default_factory=EventStreamDecoder)
    opened_at: float = field(default_factory=time.monotonic)
    heard_at: float = field(default_factory=time.monotonic)
    """When bytes last arrived on this stream (to notice a reply that stalls)."""
    accepted: bool = False
    closing: bool = False
    stalled: bool = False

    def decode(self, data: bytes) -> list[SessionEvent]:
        """Decode received bytes into session events; raise S2SError on exceptions."""
        try:
            messages = self.decoder.feed(data)
        except EventStreamError as exc:
            raise S2SError(
                "receive", ErrorCode.MALFORMED_RESPONSE, f"event stream: {exc}", cause=exc
            ) from exc
        out: list[SessionEvent] = []
        for message in messages:
            kind = message.headers.get(":message-type")
            if kind == "exception":
                raise exception_error(
                    str(message.headers.get(":exception-type", "")), message.payload
                )
            if kind == "error":
                raise exception_error(
                    str(message.headers.get(":error-code", "error")),
                    json.dumps({"message": message.headers.get(":error-message", "")}).encode(),
                )
            if kind != "event":
                continue
            try:
                wrapper = json.loads(message.payload)
                event = json.loads(base64.b64decode(wrapper["bytes"], validate=True))
            except (ValueError, KeyError, TypeError) as exc:
                raise S2SError(
                    "receive", ErrorCode.MALFORMED_RESPONSE, "undecodable event payload", cause=exc
                ) from exc
            if not isinstance(event, dict):
                raise S2SError("receive", ErrorCode.MALFORMED_RESPONSE, "event is not an object")
            out += self.protocol.on_event(event)
        return out


def inner_message(event: dict[str, Any]) -> bytes:
    """The unsigned event message: ``{"bytes": base64(JSON)}`` as a ``chunk`` event."""
    payload = json.dumps({"bytes": base64.b64encode(json.dumps(event).encode()).decode()})
    return encode_message(
        {
            ":message-type": "event",
            ":event-type": "chunk",
            ":content-type": "application/json",
        },
        payload.encode(),
    )
