"""The fake Bedrock's own view of the wire: framing, request and event signatures.

Written independently of the client in :mod:`beluga_voice.providers.amazon_nova` so that a
mistake there cannot hide itself here: frames are decoded with botocore's
``EventStreamBuffer``, replies are encoded by the small encoder below, the request signature
is recomputed with botocore's ``SigV4Auth`` from the request as received, and chunk
signatures are recomputed from the AWS documentation of event-stream signing.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.eventstream import EventStreamBuffer, ParserError

__all__ = [
    "ChunkVerifier",
    "FakeCredentials",
    "FrameError",
    "encode_frame",
    "event_frame",
    "exception_frame",
    "read_frames",
    "verify_request",
]


class FrameError(Exception):
    """A client frame the fake refuses (bad framing, bad signature, bad JSON)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class FakeCredentials:
    """The only credentials the fake accepts."""

    access_key: str = "AKIDFAKEBEDROCK00001"
    secret_key: str = "fake/secret/key/for/tests/only/0000000000"
    region: str = "us-east-1"


def _string(value: str) -> bytes:
    raw = value.encode()
    return b"\x07" + struct.pack(">H", len(raw)) + raw


def encode_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """Encode an event-stream message with string headers only (all the server sends)."""
    head = b"".join(
        bytes([len(name.encode())]) + name.encode() + _string(value)
        for name, value in headers.items()
    )
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude) & 0xFFFFFFFF)
    body = prelude + head + payload
    return body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def event_frame(event: dict[str, Any]) -> bytes:
    """A server event as Bedrock frames it: JSON wrapped in ``{"bytes": base64}``."""
    inner = base64.b64encode(json.dumps(event).encode()).decode()
    return encode_frame(
        {
            ":message-type": "event",
            ":event-type": "chunk",
            ":content-type": "application/json",
        },
        json.dumps({"bytes": inner}).encode(),
    )


def exception_frame(exception_type: str, message: str) -> bytes:
    return encode_frame(
        {
            ":message-type": "exception",
            ":exception-type": exception_type,
            ":content-type": "application/json",
        },
        json.dumps({"message": message}).encode(),
    )


def read_frames(buffer: EventStreamBuffer, data: bytes) -> list[Any]:
    """Feed ``data`` to botocore's buffer and return the complete messages."""
    buffer.add_data(data)
    try:
        return list(buffer)
    except ParserError as exc:
        raise FrameError("framing", f"botocore rejected a frame: {exc}") from exc


def verify_request(
    path: str,
    authority: str,
    scheme: str,
    headers: dict[str, str],
    creds: FakeCredentials,
) -> str:
    """Check the SigV4 ``authorization`` header; return its signature (the chain seed)."""
    auth = headers.get("authorization", "")
    amz_date = headers.get("x-amz-date", "")
    if not auth.startswith("AWS4-HMAC-SHA256 ") or not amz_date:
        raise FrameError("signature", "missing authorization or x-amz-date")
    fields = dict(part.strip().split("=", 1) for part in auth[17:].split(",") if "=" in part)
    credential = fields.get("Credential", "")
    if not credential.startswith(creds.access_key + "/"):
        raise FrameError("unknown_key", "the access key id is not known")
    if headers.get("x-amz-content-sha256") != "STREAMING-AWS4-HMAC-SHA256-EVENTS":
        raise FrameError("signature", "x-amz-content-sha256 must announce signed events")
    try:
        when = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise FrameError("signature", "bad x-amz-date") from None
    if abs((dt.datetime.now(dt.UTC) - when).total_seconds()) > 300:
        raise FrameError("signature", "request time too skewed")
    signed = fields.get("SignedHeaders", "").split(";")
    request = AWSRequest(
        method="POST",
        url=f"{scheme}://{authority}{path}",
        headers={name: headers[name] for name in signed if name in headers and name != "host"},
    )
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(creds.access_key, creds.secret_key), "bedrock", creds.region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, fields.get("Signature", "")):
        raise FrameError("signature", "the request signature does not match")
    return expected


class ChunkVerifier:
    """Recomputes each event's ``:chunk-signature`` from the previous one."""

    def __init__(self, creds: FakeCredentials, seed: str) -> None:
        self.creds = creds
        self.previous = seed
        self.verified = 0

    def verify(self, headers: dict[str, Any], payload: bytes) -> None:
        date_ms = headers.get(":date")
        signature = headers.get(":chunk-signature")
        if not isinstance(date_ms, int) or not isinstance(signature, bytes):
            raise FrameError("signature", "envelope without :date and :chunk-signature")
        when = dt.datetime.fromtimestamp(date_ms / 1000, dt.UTC)
        amz_date = when.strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        date_header = b"\x05:date\x08" + struct.pack(">q", date_ms)
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                amz_date,
                f"{day}/{self.creds.region}/bedrock/aws4_request",
                self.previous,
                hashlib.sha256(date_header).hexdigest(),
                hashlib.sha256(payload).hexdigest(),
            ]
        )
        key = b"AWS4" + self.creds.secret_key.encode()
        for part in (day, self.creds.region, "bedrock", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, signature):
            raise FrameError("signature", f"chunk signature {self.verified + 1} does not match")
        self.previous = expected.hex()
        self.verified += 1
