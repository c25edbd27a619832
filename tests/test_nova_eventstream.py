"""The AWS event-stream codec: round trips, botocore as the oracle, and a decoder fuzz."""

from __future__ import annotations

import struct
import uuid
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from botocore.eventstream import EventStreamBuffer
from hypothesis import given, settings
from hypothesis import strategies as st

from beluga_voice.providers.amazon_nova.eventstream import (
    EventStreamDecoder,
    EventStreamError,
    Int8,
    Int16,
    Int32,
    Int64,
    Message,
    encode_headers,
    encode_message,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

header_values = st.one_of(
    st.booleans(),
    st.integers(-(2**7), 2**7 - 1).map(Int8),
    st.integers(-(2**15), 2**15 - 1).map(Int16),
    st.integers(-(2**31), 2**31 - 1).map(Int32),
    st.integers(-(2**63), 2**63 - 1).map(Int64),
    st.binary(max_size=300),
    st.text(max_size=100),
    st.integers(-(2**40), 2**40).map(lambda ms: _EPOCH + timedelta(milliseconds=ms)),
    st.uuids(),
)
header_names = st.text(min_size=1, max_size=40).filter(lambda n: len(n.encode()) < 256)
headers_st = st.dictionaries(header_names, header_values, max_size=8)


def _botocore_value(value: object) -> object:
    """What botocore's parser returns for one of our header values."""
    if isinstance(value, datetime):
        return (value - _EPOCH) // timedelta(milliseconds=1)
    if isinstance(value, uuid.UUID):
        return value.bytes
    return value


@given(headers_st, st.binary(max_size=2000))
def test_round_trip_keeps_headers_types_and_payload(headers: dict, payload: bytes) -> None:
    encoded = encode_message(headers, payload)
    [message] = EventStreamDecoder().feed(encoded)
    assert message.headers == headers
    assert [type(v) for v in message.headers.values()] == [type(v) for v in headers.values()]
    assert message.payload == payload
    assert message.encode() == encoded


@given(headers_st, st.binary(max_size=2000))
def test_botocore_decodes_what_we_encode(headers: dict, payload: bytes) -> None:
    buffer = EventStreamBuffer()
    buffer.add_data(encode_message(headers, payload))
    [message] = list(buffer)
    assert message.payload == payload
    assert message.headers == {k: _botocore_value(v) for k, v in headers.items()}


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=6), st.data())
def test_incremental_decoding_at_any_split(payloads: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(encode_message({":event-type": "chunk"}, p) for p in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder = EventStreamDecoder()
    got: list[Message] = []
    start = 0
    for cut in [*cuts, len(stream)]:
        got += decoder.feed(stream[start:cut])
        start = cut
    assert [m.payload for m in got] == payloads
    assert decoder.buffered == 0


def test_known_vector_matches_the_aws_layout() -> None:
    encoded = encode_message({":message-type": "event"}, b"{}")
    total, head_len, prelude_crc = struct.unpack(">III", encoded[:12])
    assert total == len(encoded) == 12 + head_len + 2 + 4
    assert prelude_crc == zlib.crc32(encoded[:8])
    assert encoded[12:13] == bytes([len(":message-type")])
    assert encoded[-4:] == struct.pack(">I", zlib.crc32(encoded[:-4]))


def test_plain_int_widths() -> None:
    small, big = EventStreamDecoder().feed(encode_message({"a": 5, "b": 2**40}))[0].headers.values()
    assert isinstance(small, Int32) and small == 5
    assert isinstance(big, Int64) and big == 2**40


@pytest.mark.parametrize(
    "headers",
    [
        {"x": Int8(200)},
        {"x": "y" * 70000},
        {"x": b"y" * 70000},
        {"x": datetime(2024, 1, 1)},
        {"": "empty name"},
        {"x": 1.5},
    ],
)
def test_encoder_rejects_what_cannot_be_framed(headers: dict) -> None:
    with pytest.raises(EventStreamError):
        encode_headers(headers)


def test_crc_and_length_errors_are_clear() -> None:
    good = encode_message({"a": "b"}, b"payload")
    bad_prelude = bytearray(good)
    bad_prelude[8] ^= 1
    with pytest.raises(EventStreamError, match="prelude CRC"):
        EventStreamDecoder().feed(bytes(bad_prelude))
    bad_body = bytearray(good)
    bad_body[-6] ^= 1
    with pytest.raises(EventStreamError, match="message CRC"):
        EventStreamDecoder().feed(bytes(bad_body))


def test_size_limit_is_checked_before_buffering() -> None:
    prelude = struct.pack(">II", 10_000_000, 0)
    prelude += struct.pack(">I", zlib.crc32(prelude))
    decoder = EventStreamDecoder(max_message_bytes=1_000_000)
    with pytest.raises(EventStreamError, match="exceeds the limit"):
        decoder.feed(prelude)
    with pytest.raises(EventStreamError, match="earlier error"):
        decoder.feed(b"more")


def test_encoder_enforces_the_message_limit() -> None:
    with pytest.raises(EventStreamError, match="limit"):
        encode_message({}, b"x" * (16 * 1024 * 1024))


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_fuzz_random_bytes_give_clear_errors_only(data: bytes) -> None:
    decoder = EventStreamDecoder(max_message_bytes=4096)
    try:
        for message in decoder.feed(data):
            assert isinstance(message.payload, bytes)
    except EventStreamError:
        pass


@settings(max_examples=200)
@given(headers_st, st.binary(max_size=200), st.data())
def test_fuzz_truncated_and_corrupted_frames(
    headers: dict, payload: bytes, data: st.DataObject
) -> None:
    encoded = bytearray(encode_message(headers, payload))
    cut = data.draw(st.integers(0, len(encoded) - 1))
    assert EventStreamDecoder().feed(bytes(encoded[:cut])) == []
    flip = data.draw(st.integers(0, len(encoded) - 1))
    encoded[flip] ^= data.draw(st.integers(1, 255))
    with pytest.raises(EventStreamError):
        EventStreamDecoder().feed(bytes(encoded))


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_fuzz_header_section_with_valid_crcs(head: bytes) -> None:
    """Garbage *inside* a well-framed message must also fail cleanly."""
    total = 16 + len(head)
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + head
    frame = body + struct.pack(">I", zlib.crc32(body))
    try:
        [message] = EventStreamDecoder().feed(frame)
    except EventStreamError:
        return
    assert message.encode() == frame  # what decodes re-encodes to the same bytes
