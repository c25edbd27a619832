"""The AWS event-stream binary framing (``application/vnd.amazon.eventstream``).

Bedrock's bidirectional stream carries one of these messages per HTTP/2 DATA chunk, in both
directions.  A message is::

    total_len u32 | headers_len u32 | prelude_crc u32 | headers | payload | message_crc u32

big-endian, CRC32 over the first eight bytes (``prelude_crc``) and over everything before the
last four (``message_crc``).  A header is ``name_len u8 | name | type u8 | value``.

The decoder is incremental (bytes arrive split anywhere by the transport) and defensive: it
checks both CRCs and the size limits *before* it buffers a declared length, so that a peer
cannot make it allocate gigabytes by lying in a prelude.  Every malformed input raises
:class:`EventStreamError`; after one the decoder refuses further data, because a byte stream
that lost its framing cannot be resynchronised.

Header values keep their wire type across a decode/encode round trip: booleans, ``bytes``,
``str``, ``uuid.UUID``, timezone-aware ``datetime`` (millisecond precision) and the integer
wrappers :class:`Int8`, :class:`Int16`, :class:`Int32`, :class:`Int64` (a plain ``int`` is
encoded as int32 when it fits, else int64).
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

__all__ = [
    "MAX_HEADERS_BYTES",
    "MAX_MESSAGE_BYTES",
    "EventStreamDecoder",
    "EventStreamError",
    "HeaderValue",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "Message",
    "encode_headers",
    "encode_message",
]

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""AWS's limit on one event-stream message (16 MiB)."""
MAX_HEADERS_BYTES = 128 * 1024
"""AWS's limit on the header section of one message (128 KiB)."""

_PRELUDE = struct.Struct(">III")
_PRELUDE_LEN = 12
_MIN_MESSAGE = _PRELUDE_LEN + 4
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class EventStreamError(ValueError):
    """Malformed or oversized event-stream data (bad CRC, bad lengths, bad header)."""


class _TypedInt(int):
    """An int that remembers its wire width."""

    _type: int = 4
    _fmt: str = ">i"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({int(self)})"


class Int8(_TypedInt):
    _type, _fmt = 2, ">b"


class Int16(_TypedInt):
    _type, _fmt = 3, ">h"


class Int32(_TypedInt):
    _type, _fmt = 4, ">i"


class Int64(_TypedInt):
    _type, _fmt = 5, ">q"


HeaderValue = bool | int | bytes | str | datetime | uuid.UUID


@dataclass(slots=True)
class Message:
    """One decoded event-stream message."""

    headers: dict[str, HeaderValue] = field(default_factory=dict)
    payload: bytes = b""

    def encode(self) -> bytes:
        return encode_message(self.headers, self.payload)


def _encode_value(name: str, value: HeaderValue) -> bytes:
    # bool before int: bool is an int subclass.
    if value is True:
        return b"\x00"
    if value is False:
        return b"\x01"
    if isinstance(value, _TypedInt):
        try:
            return bytes([value._type]) + struct.pack(value._fmt, value)
        except struct.error:
            raise EventStreamError(
                f"header {name!r}: {value!r} does not fit {type(value).__name__}"
            ) from None
    if isinstance(value, int):
        wide = Int32(value) if -(2**31) <= value < 2**31 else Int64(value)
        return _encode_value(name, wide)
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        if len(raw) > 0xFFFF:
            raise EventStreamError(f"header {name!r}: byte value longer than 65535")
        return b"\x06" + struct.pack(">H", len(raw)) + raw
    if isinstance(value, str):
        raw = value.encode("utf-8")
        if len(raw) > 0xFFFF:
            raise EventStreamError(f"header {name!r}: string value longer than 65535 bytes")
        return b"\x07" + struct.pack(">H", len(raw)) + raw
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise EventStreamError(f"header {name!r}: timestamp must be timezone-aware")
        ms = (value - _EPOCH) // timedelta(milliseconds=1)
        return b"\x08" + struct.pack(">q", ms)
    if isinstance(value, uuid.UUID):
        return b"\x09" + value.bytes
    raise EventStreamError(f"header {name!r}: unsupported value type {type(value).__name__}")


def encode_headers(headers: Mapping[str, HeaderValue]) -> bytes:
    """Encode a header section (also what a chunk signature hashes for ``:date``)."""
    out = bytearray()
    for name, value in headers.items():
        raw_name = name.encode("utf-8")
        if not 0 < len(raw_name) < 256:
            raise EventStreamError(f"header name must be 1..255 bytes, got {len(raw_name)}")
        out.append(len(raw_name))
        out += raw_name
        out += _encode_value(name, value)
    return bytes(out)


def encode_message(headers: Mapping[str, HeaderValue], payload: bytes = b"") -> bytes:
    """Encode one complete message with both CRCs."""
    head = encode_headers(headers)
    if len(head) > MAX_HEADERS_BYTES:
        raise EventStreamError(f"headers are {len(head)} bytes; the limit is {MAX_HEADERS_BYTES}")
    total = _MIN_MESSAGE + len(head) + len(payload)
    if total > MAX_MESSAGE_BYTES:
        raise EventStreamError(f"message is {total} bytes; the limit is {MAX_MESSAGE_BYTES}")
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + head + payload
    return body + struct.pack(">I", zlib.crc32(body))


def _decode_headers(data: bytes) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    pos, end = 0, len(data)

    def take(n: int) -> bytes:
        nonlocal pos
        if pos + n > end:
            raise EventStreamError("header section ends inside a header")
        chunk = data[pos : pos + n]
        pos += n
        return chunk

    while pos < end:
        name_len = take(1)[0]
        if name_len == 0:
            raise EventStreamError("empty header name")
        try:
            name = take(name_len).decode("utf-8")
        except UnicodeDecodeError:
            raise EventStreamError("header name is not UTF-8") from None
        if name in headers:
            raise EventStreamError(f"duplicate header {name!r}")
        kind = take(1)[0]
        value: HeaderValue
        if kind == 0:
            value = True
        elif kind == 1:
            value = False
        elif kind in (2, 3, 4, 5):
            cls = (Int8, Int16, Int32, Int64)[kind - 2]
            size = struct.calcsize(cls._fmt)
            value = cls(struct.unpack(cls._fmt, take(size))[0])
        elif kind in (6, 7):
            (length,) = struct.unpack(">H", take(2))
            raw = take(length)
            if kind == 6:
                value = raw
            else:
                try:
                    value = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise EventStreamError(f"header {name!r}: string is not UTF-8") from None
        elif kind == 8:
            (ms,) = struct.unpack(">q", take(8))
            try:
                value = _EPOCH + timedelta(milliseconds=ms)
            except OverflowError:
                raise EventStreamError(f"header {name!r}: timestamp out of range") from None
        elif kind == 9:
            value = uuid.UUID(bytes=take(16))
        else:
            raise EventStreamError(f"header {name!r}: unknown value type {kind}")
        headers[name] = value
    return headers


class EventStreamDecoder:
    """Incremental decoder: :meth:`feed` bytes as they arrive, get whole messages back."""

    def __init__(
        self,
        *,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        max_headers_bytes: int = MAX_HEADERS_BYTES,
    ) -> None:
        self.max_message_bytes = max_message_bytes
        self.max_headers_bytes = max_headers_bytes
        self._buf = bytearray()
        self._need: int | None = None  # total length of the message being assembled
        self._failed: EventStreamError | None = None

    @property
    def buffered(self) -> int:
        """Bytes held that do not yet form a whole message."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Message]:
        """Add ``data``; return every message it completes.  Raises :class:`EventStreamError`."""
        if self._failed is not None:
            raise EventStreamError(f"decoder stopped after an earlier error: {self._failed}")
        self._buf += data
        out: list[Message] = []
        try:
            while True:
                message = self._next()
                if message is None:
                    return out
                out.append(message)
        except EventStreamError as exc:
            self._failed = exc
            raise

    def _next(self) -> Message | None:
        buf = self._buf
        if self._need is None:
            if len(buf) < _PRELUDE_LEN:
                return None
            total, head_len, crc = _PRELUDE.unpack_from(buf)
            if zlib.crc32(buf[:8]) != crc:
                raise EventStreamError("prelude CRC mismatch")
            if total < _MIN_MESSAGE:
                raise EventStreamError(f"message length {total} is below the minimum 16")
            if total > self.max_message_bytes:
                raise EventStreamError(
                    f"message length {total} exceeds the limit {self.max_message_bytes}"
                )
            if head_len > self.max_headers_bytes:
                raise EventStreamError(
                    f"headers length {head_len} exceeds the limit {self.max_headers_bytes}"
                )
            if head_len > total - _MIN_MESSAGE:
                raise EventStreamError(f"headers length {head_len} exceeds the message {total}")
            self._need = total
        total = self._need
        if len(buf) < total:
            return None
        (crc,) = struct.unpack_from(">I", buf, total - 4)
        if zlib.crc32(memoryview(buf)[: total - 4]) != crc:
            raise EventStreamError("message CRC mismatch")
        head_len = struct.unpack_from(">I", buf, 4)[0]
        headers = _decode_headers(bytes(buf[_PRELUDE_LEN : _PRELUDE_LEN + head_len]))
        payload = bytes(buf[_PRELUDE_LEN + head_len : total - 4])
        del buf[:total]
        self._need = None
        return Message(headers, payload)
