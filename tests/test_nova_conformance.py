"""Conformance with botocore: the model-driven event-stream parser of bedrock-runtime.

botocore cannot *call* InvokeModelWithBidirectionalStream (it needs HTTP/2), but its service
model and event-stream parser are AWS's own description of the wire.  They judge both the
fake server's frames and the client's, so neither side can agree with the other on a
mistake.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.credentials import ReadOnlyCredentials
from botocore.eventstream import EventStream, EventStreamBuffer
from botocore.exceptions import EventStreamError as BotocoreStreamError
from botocore.loaders import Loader
from botocore.model import ServiceModel
from botocore.parsers import EventStreamJSONParser
from hypothesis import given
from hypothesis import strategies as st

from beluga_voice.conversation import Turn
from beluga_voice.providers.amazon_nova.eventstream import EventStreamDecoder
from beluga_voice.providers.amazon_nova.faults import exception_error
from beluga_voice.providers.amazon_nova.leg import inner_message
from beluga_voice.providers.amazon_nova.protocol import NovaProtocol
from beluga_voice.providers.amazon_nova.settings import NovaSettings, NovaTool
from beluga_voice.providers.amazon_nova.signing import ChunkSigner
from beluga_voice.providers.errors import ErrorCode
from beluga_voice.testing.fake_bedrock.wire import (
    ChunkVerifier,
    FakeCredentials,
    event_frame,
    exception_frame,
)

MODEL = ServiceModel(Loader().load_service_model("bedrock-runtime", "service-2"))
OPERATION = MODEL.operation_model("InvokeModelWithBidirectionalStream")


class _Raw:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self) -> Iterator[bytes]:
        yield self.data

    def close(self) -> None:
        pass


def botocore_events(data: bytes) -> list[dict[str, Any]]:
    stream = EventStream(
        _Raw(data),
        OPERATION.get_event_stream_output(),
        EventStreamJSONParser(),
        OPERATION.name,
    )
    return list(stream)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(
    st.text(min_size=1, max_size=20), st.dictionaries(st.text(max_size=10), json_values, max_size=4)
)
def test_fake_events_parse_as_the_service_model_chunk(name: str, body: dict[str, Any]) -> None:
    event = {"event": {name: body}}
    frame = event_frame(event)
    [parsed] = botocore_events(frame)
    assert json.loads(parsed["chunk"]["bytes"]) == event
    # ...and the client's own decoder reads the same frame the same way.
    [message] = EventStreamDecoder().feed(frame)
    assert json.loads(base64.b64decode(json.loads(message.payload)["bytes"])) == event


@pytest.mark.parametrize(
    "member",
    sorted(m for m in OPERATION.get_event_stream_output().members if m.endswith("Exception")),
)
def test_every_modelled_stream_exception_is_mapped(member: str) -> None:
    frame = exception_frame(member, "details")
    with pytest.raises(BotocoreStreamError) as info:
        botocore_events(frame)
    assert info.value.response["Error"]["Code"] == member
    error = exception_error(member, json.dumps({"message": "details"}).encode())
    assert error.code is not ErrorCode.STREAM_ERROR or member == "modelStreamErrorException"
    assert "details" in str(error)


def _client_events() -> list[dict[str, Any]]:
    core = NovaProtocol(
        NovaSettings(tools=[NovaTool(name="t", input_schema={"type": "object"})]), []
    )
    events = core.opening_events([Turn("user", "hi"), Turn("assistant", "hello")])
    events.append(core.audio_event(b"\x00\x01" * 320))
    events += core.text_events("typed")
    events += core.tool_result_events("id-1", "result")
    events += core.closing_events()
    return events


def test_every_client_frame_decodes_with_botocore_and_verifies() -> None:
    creds = FakeCredentials()
    signer = ChunkSigner(
        ReadOnlyCredentials(creds.access_key, creds.secret_key, None), creds.region, "0" * 64
    )
    verifier = ChunkVerifier(creds, "0" * 64)
    events = _client_events()
    wire = b"".join(signer.sign(inner_message(e)) for e in events) + signer.sign(b"")
    outer = EventStreamBuffer()
    outer.add_data(wire)
    envelopes = list(outer)
    assert len(envelopes) == len(events) + 1
    input_member = next(iter(OPERATION.get_event_stream_input().members))
    assert input_member == "chunk"
    for envelope, event in zip(envelopes, [*events, None], strict=True):
        verifier.verify(envelope.headers, envelope.payload)
        assert set(envelope.headers) == {":date", ":chunk-signature"}
        if event is None:
            assert envelope.payload == b""
            continue
        inner = EventStreamBuffer()
        inner.add_data(envelope.payload)
        [message] = list(inner)
        assert message.headers == {
            ":message-type": "event",
            ":event-type": input_member,
            ":content-type": "application/json",
        }
        # The payload is the "chunk" member, a structure whose blob "bytes" is base64 JSON.
        payload = json.loads(message.payload)
        assert set(payload) == set(MODEL.shape_for("BidirectionalInputPayloadPart").members)
        assert json.loads(base64.b64decode(payload["bytes"])) == event
    assert verifier.verified == len(events) + 1
