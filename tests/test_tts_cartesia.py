"""Cartesia streaming TTS: the core, the client against the fake (checked by the official
SDK's types and by the SDK's own WebSocket client), cancel, failures and secrets."""

from __future__ import annotations

import json

import anyio
import pytest
from _tts_helpers import speak
from cartesia import AsyncCartesia
from cartesia.types import WebsocketClientEvent
from cartesia.types.generation_request import GenerationRequest
from cartesia.types.websocket_client_event import CancelContextRequest
from cartesia.types.websocket_response import Chunk, Done, FlushDone, Timestamps
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from beluga_voice.errors import ErrorCode, S2SError
from beluga_voice.testing.fake_cartesia import FakeCartesia
from beluga_voice.tts.alignment import Timeline
from beluga_voice.tts.cartesia import CartesiaCore, CartesiaSettings, CartesiaTTS

pytestmark = pytest.mark.anyio
CLIENT = TypeAdapter(WebsocketClientEvent)
SERVER = {"chunk": Chunk, "done": Done, "flush_done": FlushDone, "timestamps": Timestamps}


def _engine(fake: FakeCartesia) -> CartesiaTTS:
    return CartesiaTTS(api_key=fake.api_key, base_url=fake.base_url, sample_rate=16000)


async def test_one_context_per_reply_with_continuations_and_word_timestamps() -> None:
    async with FakeCartesia(ms_per_char=20.0) as fake:
        pcm, reply = await speak(_engine(fake))
    assert fake.received, "nothing sent"
    contexts = {m["context_id"] for m in fake.received}
    assert len(contexts) == 1
    for msg in fake.received:
        CLIENT.validate_python(msg)
        GenerationRequest.model_validate(msg)
    assert [m["continue"] for m in fake.received][-1] is False
    assert all(m["continue"] for m in fake.received[:-1])
    assert fake.received[0]["output_format"] == {
        "container": "raw",
        "encoding": "pcm_s16le",
        "sample_rate": 16000,
    }
    for msg in fake.sent:
        SERVER[msg["type"]].model_validate(msg)
    text = "".join(m["transcript"] for m in fake.received)
    assert (
        len(pcm)
        == sum(len(m["transcript"]) for m in fake.received if m["transcript"].strip()) * 20 * 32
    )
    assert text == "Hello there, friend. How are you today?"
    assert reply.timeline.heard(20 * 3) == "Hello..."
    assert fake.handshakes[0].headers["Cartesia-Version"]


async def test_the_official_sdk_client_talks_to_the_fake() -> None:
    """The fake is checked against Cartesia's own client, not only against ours."""
    async with FakeCartesia() as fake:
        client = AsyncCartesia(api_key=fake.api_key, websocket_base_url=fake.base_url)
        got: list[str] = []
        with anyio.fail_after(10):
            async with client.tts.websocket_connect() as conn:
                ctx = conn.context(
                    model_id="sonic-3",
                    voice={"mode": "id", "id": "v"},
                    output_format={
                        "container": "raw",
                        "encoding": "pcm_s16le",
                        "sample_rate": 16000,
                    },
                    add_timestamps=True,
                )
                await ctx.push("Hi there. ")
                await ctx.no_more_inputs()
                async for event in ctx.receive():
                    got.append(event.type)
        await client.close()
    assert got[0] == "chunk" and "timestamps" in got and got[-1] == "done"


async def test_cancel_tells_the_service_and_ends_the_audio() -> None:
    async with FakeCartesia(message_ms=20.0) as fake:
        engine = _engine(fake)
        chunks = 0
        with anyio.fail_after(5):
            async with engine.open_reply() as reply:
                await reply.send("A sentence long enough for several chunks. ")
                async for _ in reply.audio():
                    chunks += 1
                    if chunks == 2:
                        await reply.cancel()
            await fake.wait_until(lambda f: f.finished > 0)
    assert chunks == 2
    cancel = fake.received[-1]
    CancelContextRequest.model_validate(cancel)
    assert fake.cancelled == [fake.received[0]["context_id"]]


async def test_wrong_key_and_dropped_connection_map_to_our_codes() -> None:
    async with FakeCartesia(drop_after=1) as fake:
        bad = CartesiaTTS(api_key="sk-cartesia-wrong-0123456789", base_url=fake.base_url)
        with pytest.raises(S2SError) as info:
            await speak(bad)
        assert info.value.code is ErrorCode.AUTHENTICATION_ERROR
        assert "sk-cartesia-wrong-0123456789" not in str(info.value)
        with pytest.raises(S2SError) as dropped:
            await speak(_engine(fake))
        assert dropped.value.code is ErrorCode.NETWORK_ERROR and dropped.value.is_retryable


def test_an_error_message_raises_with_the_status_code() -> None:
    core = CartesiaCore(CartesiaSettings())
    msg = {"type": "error", "done": True, "status_code": 429, "title": "x", "message": "slow down"}
    with pytest.raises(S2SError, match="slow down") as info:
        core.receive(json.dumps(msg), Timeline())
    assert info.value.code is ErrorCode.RATE_LIMIT


def test_messages_of_another_context_are_ignored() -> None:
    core = CartesiaCore(CartesiaSettings(), context_id="mine")
    msg = {"type": "chunk", "context_id": "other", "data": "AAAA", "done": False}
    got = core.receive(json.dumps(msg), Timeline())
    assert got.audio == [] and not got.done


@given(st.lists(st.text(max_size=10), max_size=8))
def test_every_input_keeps_the_context_fields(pieces: list[str]) -> None:
    core = CartesiaCore(CartesiaSettings())
    sent = [json.loads(m) for p in pieces for m in core.text(p) + core.flush()]
    sent += [json.loads(m) for m in core.end()]
    fixed = {
        json.dumps(
            {k: v for k, v in m.items() if k not in ("transcript", "continue", "flush")},
            sort_keys=True,
        )
        for m in sent
    }
    assert len(fixed) == 1
    assert "".join(m["transcript"] for m in sent) == "".join(pieces)
    assert sent[-1]["continue"] is False


@given(
    st.one_of(
        st.binary(max_size=64),
        st.text(max_size=64),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    )
)
def test_garbage_never_crashes_the_core_with_anything_but_our_error(data: object) -> None:
    core = CartesiaCore(CartesiaSettings())
    raw = json.dumps(data) if isinstance(data, dict) else data
    assert isinstance(raw, str | bytes)
    try:
        got = core.receive(raw, Timeline())
    except S2SError as exc:
        assert exc.code in ALLOWED
    else:
        assert all(isinstance(a, bytes) and len(a) % 2 == 0 for a in got.audio)


ALLOWED = {ErrorCode.MALFORMED_RESPONSE, ErrorCode.STREAM_ERROR}
