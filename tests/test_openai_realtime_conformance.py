"""Conformance: the official ``openai`` SDK talks to our fake, and both our client and the
fake stay inside the SDK's event schemas."""

from __future__ import annotations

import base64
import json
import random

import anyio
import pytest
from _realtime_helpers import KEY, conversation, reply_audio, send_chunked, speech, until
from openai import AsyncOpenAI
from websockets.asyncio.client import connect

from beluga_voice.providers.events import AudioChunk, ToolCall
from beluga_voice.testing.fake_realtime import FakeRealtimeServer, FunctionCall, Reply
from beluga_voice.testing.speech import tone

pytestmark = pytest.mark.anyio

REPLY = Reply(tone(0.3, 24000, 500.0), "Hello from the fake")


async def test_official_sdk_completes_a_turn_with_the_fake() -> None:
    async with FakeRealtimeServer(script=[REPLY], api_key=KEY) as fake:
        client = AsyncOpenAI(api_key=KEY, websocket_base_url=fake.base_url)
        audio = bytearray()
        transcript = ""
        async with client.realtime.connect(model="gpt-realtime") as conn:
            await conn.session.update(
                session={"type": "realtime", "output_modalities": ["audio"], "instructions": "Hi"}
            )
            await conn.conversation.item.create(
                item={
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "Say hello"}],
                }
            )
            await conn.response.create()
            async for event in conn:
                if event.type == "response.output_audio.delta":
                    audio += base64.b64decode(event.delta)
                elif event.type == "response.output_audio_transcript.done":
                    transcript = event.transcript
                elif event.type == "response.done":
                    assert event.response.status == "completed"
                    break
    assert bytes(audio) == REPLY.audio
    assert transcript == "Hello from the fake"
    assert fake.records.violations == []
    assert fake.records.server_violations == []


async def test_sdk_audio_turn_with_server_vad() -> None:
    async with FakeRealtimeServer(script=[REPLY], user_transcripts=["Good morning"]) as fake:
        client = AsyncOpenAI(api_key=KEY, websocket_base_url=fake.base_url)
        kinds: list[str] = []
        user = ""
        async with client.realtime.connect(model="gpt-realtime") as conn:
            pcm = speech()
            for i in range(0, len(pcm), 960):
                await conn.input_audio_buffer.append(
                    audio=base64.b64encode(pcm[i : i + 960]).decode()
                )
            async for event in conn:
                kinds.append(event.type)
                if event.type == "conversation.item.input_audio_transcription.completed":
                    user = event.transcript
                if event.type == "response.done":
                    break
    assert user == "Good morning"
    assert kinds.index("input_audio_buffer.speech_started") < kinds.index(
        "input_audio_buffer.speech_stopped"
    )
    assert "response.output_audio.delta" in kinds
    assert fake.records.violations == []
    assert fake.records.server_violations == []


async def test_our_client_and_the_fake_stay_in_schema_across_a_conversation() -> None:
    script = [
        FunctionCall("lookup", '{"q": "x"}'),
        Reply(tone(1.5, 24000, 500.0), "Long one"),
        REPLY,
    ]
    tools = [{"name": "lookup", "parameters": {"type": "object"}}]
    settings = {"tools": tools, "transcription_model": "gpt-4o-transcribe", "instructions": "Hi"}
    async with conversation(settings, script=script, pace=1.0) as (fake, session):
        await send_chunked(session, speech())
        call = (await until(session, ToolCall))[-1]
        assert isinstance(call, ToolCall)
        await until(session)
        await session.send_tool_result(call.call_id, '{"a": 1}')
        await until(session, AudioChunk)
        await session.interrupt(10.0)  # barge-in: cancel + truncate
        await until(session)
        await session.speak("Verbatim line.")
        events = await until(session)
        await session.send_text("And text.")
        await until(session)
    assert reply_audio(events)
    assert fake.records.truncations and fake.records.cancels == 1
    kinds = set(fake.records.types())
    assert {
        "session.update",
        "input_audio_buffer.append",
        "conversation.item.create",
        "conversation.item.truncate",
        "response.cancel",
        "response.create",
    } <= kinds
    assert fake.records.violations == []
    assert fake.records.server_violations == []


async def test_the_fake_flags_events_outside_the_schema() -> None:
    async with FakeRealtimeServer() as fake:
        url = fake.url + "?model=gpt-realtime"
        headers = {"Authorization": f"Bearer {KEY}"}
        async with connect(url, additional_headers=headers) as ws:
            await ws.send(json.dumps({"type": "conversation.item.truncate", "item_id": "x"}))
            await ws.send(json.dumps({"type": "input_audio_buffer.commit", "flush": True}))
            await ws.send(json.dumps({"type": "no.such.event"}))
            for _ in range(4):  # session.created then one error per bad event
                await ws.recv()
    assert len(fake.records.violations) == 3
    assert "conversation.item.truncate" in fake.records.violations[0]
    assert "unknown field(s) flush" in fake.records.violations[1]


def garbage_frames() -> list[str | bytes]:
    """A fixed corpus of bad client frames: noise, wrong shapes, wrong field types."""
    rng = random.Random(8)
    frames: list[str | bytes] = [rng.randbytes(rng.randint(1, 64)) for _ in range(10)]
    frames += [
        "".join(chr(rng.randint(32, 0x2FF)) for _ in range(rng.randint(0, 40))) for _ in range(10)
    ]
    frames += ["null", "[]", "42", '"x"', "{}", '{"type": 5}', '{"type": null}']
    for kind in (
        "session.update",
        "input_audio_buffer.append",
        "input_audio_buffer.commit",
        "conversation.item.create",
        "conversation.item.truncate",
        "response.create",
        "response.cancel",
    ):
        for value in (None, 3, "x", [], {"a": 1}, "%%%"):
            frames.append(
                json.dumps(
                    {
                        "type": kind,
                        "session": value,
                        "audio": value,
                        "item": value,
                        "response": value,
                        "item_id": value,
                        "audio_end_ms": value,
                    }
                )
            )
    return frames


async def test_the_fake_survives_garbage_and_records_it() -> None:
    async with FakeRealtimeServer(script=[REPLY]) as fake:
        url = fake.url + "?model=gpt-realtime"
        async with connect(url, additional_headers={"Authorization": f"Bearer {KEY}"}) as ws:
            await ws.recv()  # session.created
            for frame in garbage_frames():
                await ws.send(frame)
            await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime"}}))
            with anyio.fail_after(5):
                while json.loads(await ws.recv())["type"] != "session.updated":
                    pass
    # Every bad frame was recorded (valid-looking ones such as a bare response.cancel are
    # the exception), and the connection survived all of them.
    assert len(fake.records.violations) >= len(garbage_frames()) - 12
    assert fake.records.connections == 1 and fake.records.server_violations == []
