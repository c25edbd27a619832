"""One Bedrock stream of a session ("leg"), and how a client event is framed on it."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any

from .eventstream import EventStreamDecoder, encode_message
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
    accepted: bool = False
    closing: bool = False


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
