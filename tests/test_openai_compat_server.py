"""The OpenAI-compatible server, driven by the official ``openai`` SDK's realtime client.

Every server event the SDK receives is checked against its ``RealtimeServerEvent`` union
(and every client event sent against ``RealtimeClientEvent``); each test asserts none
failed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from _openai_server_helpers import TOKEN, WEATHER, running, say, sdk_client, spoken
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from beluga_voice.audio.g711 import ulaw_encode
from beluga_voice.conversation import ConversationContext
from beluga_voice.providers.local import LocalS2SProvider
from beluga_voice.providers.mock import AdvancedMockS2SProvider
from beluga_voice.testing.speech import tone
from beluga_voice.transports.openai_realtime_server import INSECURE_KEY_PREFIX, ProviderBackend

pytestmark = pytest.mark.anyio

_TEXT = say("what is two plus two")


def _index(types: list[str], kind: str) -> int:
    return types.index(kind)


async def test_spoken_turn_through_server_vad_with_transcript_and_reply_audio() -> None:
    async with running(ProviderBackend("local")) as server, sdk_client(server) as c:
        await c.send({"type": "session.update", "session": {"type": "realtime"}})
        await c.until("session.updated")
        await c.append(spoken("what is two plus two"))
        await c.append(b"\0\0" * 24000)  # a second of quiet ends the turn
        done = await c.until("response.done")
        types = c.types()
        heard = next(e for e in c.events if e["type"].endswith("transcription.completed"))
        committed = next(e for e in c.events if e["type"] == "input_audio_buffer.committed")
    assert heard["transcript"] == "what is two plus two"
    started = next(e for e in c.events if e["type"] == "input_audio_buffer.speech_started")
    assert heard["item_id"] == committed["item_id"] == started["item_id"]
    assert (
        _index(types, "input_audio_buffer.speech_started")
        < _index(types, "input_audio_buffer.speech_stopped")
        < _index(types, "input_audio_buffer.committed")
        < _index(types, "response.created")
        < _index(types, "response.output_audio.delta")
        < _index(types, "response.output_audio.done")
        < _index(types, "response.done")
    )
    reply = done["response"]
    assert reply["status"] == "completed"
    assert reply["output"][0]["content"][0]["transcript"] == "That is 4."
    assert len(c.audio(reply["id"])) > 24000  # over half a second of 24 kHz PCM16
    assert c.problems == []


async def test_text_turn() -> None:
    async with running(ProviderBackend("local")) as server, sdk_client(server) as c:
        await c.send(_TEXT)
        added = await c.until("conversation.item.added")
        await c.send({"type": "response.create", "response": {"metadata": {"turn": "1"}}})
        created = await c.until("response.created")
        done = await c.until("response.done")
    assert added["item"]["role"] == "user"
    assert created["response"]["id"] == done["response"]["id"]
    assert done["response"]["metadata"] == {"turn": "1"}
    assert done["response"]["output"][0]["content"][0]["transcript"] == "That is 4."
    assert "usage" in done["response"]
    assert c.problems == []


async def test_barge_in_cancels_the_reply_and_truncation_reaches_the_backend() -> None:
    mock = AdvancedMockS2SProvider(
        audio_outputs=[tone(3.0, rate=24000, level=0.2)], transcripts=["A long answer."], pace=1.0
    )
    async with running(ProviderBackend(provider=mock)) as server, sdk_client(server) as c:
        await c.send(_TEXT)
        await c.send({"type": "response.create"})
        delta = await c.until("response.output_audio.delta")
        item_id, rid = delta["item_id"], delta["response_id"]
        await c.until("response.output_audio.delta")
        await c.append(tone(0.5, rate=24000, level=0.3))  # the user talks over the reply
        started = await c.until("input_audio_buffer.speech_started")
        done = await c.until("response.done")
        await c.send(
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": 40,
            }
        )
        truncated = await c.until("conversation.item.truncated")
    assert started["item_id"] != item_id
    assert done["response"]["id"] == rid
    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"]["reason"] == "turn_detected"
    assert done["response"]["output"][0]["status"] == "incomplete"
    assert truncated["audio_end_ms"] == 40
    assert 40.0 in mock.interrupts  # the backend was told what was heard
    assert c.problems == []


class _RecordingAgent:
    """Answers with two sentences and records the assistant turns of the history it sees."""

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    async def respond(self, text: str, ctx: ConversationContext) -> AsyncIterator[str]:
        self.seen.append([t.text for t in ctx.history if t.role == "assistant"])
        yield "The first sentence is here. The second sentence is longer than the first one."


async def test_truncation_is_honoured_in_the_local_backends_history() -> None:
    agent = _RecordingAgent()
    backend = ProviderBackend(provider=LocalS2SProvider(agent=agent))
    async with running(backend) as server, sdk_client(server) as c:
        await c.send(_TEXT)
        await c.send({"type": "response.create"})
        done = await c.until("response.done")
        item = done["response"]["output"][0]
        await c.send(
            {
                "type": "conversation.item.truncate",
                "item_id": item["id"],
                "content_index": 0,
                "audio_end_ms": 1500,
            }
        )
        await c.until("conversation.item.truncated")
        await c.send(_TEXT)
        await c.send({"type": "response.create"})
        await c.until("response.done")
    whole = item["content"][0]["transcript"]
    assert whole.startswith("The first sentence is here.") and "second" in whole
    [heard] = agent.seen[1]  # the reply as the backend now remembers it: what was heard
    assert heard.startswith("The first sentence is here.")
    assert "first one" not in heard and len(heard) < len(whole)
    assert c.problems == []


async def test_function_call_round_trip() -> None:
    mock = AdvancedMockS2SProvider(
        transcripts=["It is sunny."], tool_calls={1: ("get_weather", '{"city": "Paris"}')}
    )
    async with running(ProviderBackend(provider=mock)) as server, sdk_client(server) as c:
        await c.send(
            {"type": "session.update", "session": {"type": "realtime", "tools": [WEATHER]}}
        )
        updated = await c.until("session.updated")
        await c.send(_TEXT)
        await c.send({"type": "response.create"})
        args = await c.until("response.function_call_arguments.done")
        first = await c.until("response.done")
        call = first["response"]["output"][0]
        await c.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "function_call_output",
                    "call_id": call["call_id"],
                    "output": '{"sky": "clear"}',
                },
            }
        )
        assert mock.tool_results == []  # held until the client asks for a response
        await c.send({"type": "response.create"})
        second = await c.until("response.done")
    assert updated["session"]["tools"][0]["name"] == "get_weather"
    assert args["name"] == "get_weather" and json.loads(args["arguments"]) == {"city": "Paris"}
    assert call["type"] == "function_call" and call["call_id"] == args["call_id"]
    assert first["response"]["status"] == "completed"
    assert mock.tool_results == [(call["call_id"], '{"sky": "clear"}')]
    assert second["response"]["output"][0]["content"][0]["transcript"] == "It is sunny."
    assert c.problems == []


async def test_wrong_token_is_refused_with_401() -> None:
    async with running(ProviderBackend("mock")) as server:
        with pytest.raises(InvalidStatus) as info:
            async with sdk_client(server, token="sk-wrong"):
                pass
    assert info.value.response.status_code == 401


async def test_browser_subprotocol_carries_the_key() -> None:
    async with running(ProviderBackend("mock")) as server:
        url = server.base_url + "/realtime?model=gpt-realtime"
        protocols = ["realtime", INSECURE_KEY_PREFIX + TOKEN]
        async with connect(url, subprotocols=protocols) as ws:  # type: ignore[arg-type]
            first = json.loads(await ws.recv())
            chosen = ws.subprotocol
        with pytest.raises(InvalidStatus) as info:
            bad = ["realtime", INSECURE_KEY_PREFIX + "sk-wrong"]
            async with connect(url, subprotocols=bad):  # type: ignore[arg-type]
                pass
    assert first["type"] == "session.created"
    assert chosen == "realtime"
    assert info.value.response.status_code == 401


async def test_unknown_fields_get_an_error_event_and_the_session_goes_on() -> None:
    async with running(ProviderBackend("mock")) as server, sdk_client(server) as c:
        await c.conn.send(
            {
                "type": "session.update",
                "event_id": "e1",
                "session": {"type": "realtime", "colour": "red"},
            }
        )
        err = await c.until("error")
        await c.conn.send({"type": "no.such.event"})
        unknown = await c.until("error")
        await c.conn.send({"type": "output_audio_buffer.clear"})
        unsupported = await c.until("error")
        await c.send({"type": "response.cancel"})
        not_active = await c.until("error")
        await c.send(
            {"type": "session.update", "session": {"type": "realtime", "instructions": "hi"}}
        )
        updated = await c.until("session.updated")
    assert err["error"]["type"] == "invalid_request_error"
    assert err["error"]["code"] == "unknown_parameter"
    assert err["error"]["param"] == "session.colour"
    assert err["error"]["event_id"] == "e1"
    assert unknown["error"]["code"] == "invalid_event"
    assert unsupported["error"]["code"] == "unsupported_event"
    assert not_active["error"]["code"] == "response_cancel_not_active"
    assert updated["session"]["instructions"] == "hi"
    assert c.problems == []


async def test_g711_in_and_out_with_client_commits() -> None:
    mock = AdvancedMockS2SProvider(
        audio_outputs=[tone(0.5, rate=24000)], transcripts=["Hello."], turn_detection="client"
    )
    async with running(ProviderBackend(provider=mock)) as server, sdk_client(server) as c:
        fmt = {"type": "audio/pcmu"}
        await c.send(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "audio": {
                        "input": {"format": fmt, "turn_detection": None},
                        "output": {"format": fmt},
                    },
                },
            }
        )
        updated = await c.until("session.updated")
        await c.append(ulaw_encode(tone(0.5, rate=8000)))
        await c.send({"type": "input_audio_buffer.commit"})
        committed = await c.until("input_audio_buffer.committed")
        assert mock.turns == 0  # no reply until the client asks for one
        await c.send({"type": "response.create"})
        done = await c.until("response.done")
    assert updated["session"]["audio"]["input"]["turn_detection"] is None
    assert committed["item_id"]
    assert done["response"]["status"] == "completed"
    audio = c.audio(done["response"]["id"])
    assert abs(len(audio) - 4000) < 200  # 0.5 s at 8 kHz, one byte per sample
    assert mock.received_bytes > 0
    assert c.problems == []


async def test_out_of_band_response_is_voiced_outside_the_conversation() -> None:
    mock = AdvancedMockS2SProvider(transcripts=["ignored"])
    async with running(ProviderBackend(provider=mock)) as server, sdk_client(server) as c:
        await c.send(
            {
                "type": "response.create",
                "response": {
                    "conversation": "none",
                    "instructions": "Read this: <say>Your table is ready.</say>",
                },
            }
        )
        done = await c.until("response.done")
    assert mock.spoken_text == ["Your table is ready."]
    assert done["response"]["conversation_id"] is None
    assert "conversation.item.added" not in c.types()
    assert c.problems == []


async def test_item_delete_removes_it_from_the_backend_history() -> None:
    async with running(ProviderBackend("mock")) as server, sdk_client(server) as c:
        await c.send(say("Be terse.", "system"))
        added = await c.until("conversation.item.added")
        await c.send({"type": "conversation.item.delete", "item_id": added["item"]["id"]})
        deleted = await c.until("conversation.item.deleted")
        await c.send({"type": "conversation.item.retrieve", "item_id": added["item"]["id"]})
        missing = await c.until("error")
    assert deleted["item_id"] == added["item"]["id"]
    assert missing["error"]["code"] == "item_not_found"
    assert c.problems == []
