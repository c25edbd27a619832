"""The OpenAI-compatible server with other clients and backends: beluga-voice's own
``openai_realtime`` provider as the client, OpenAI itself (a fake) as the backend, the
``serve --protocol openai-realtime`` command, and the client-event models checked
against the SDK's ``RealtimeClientEvent``."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import anyio
import pytest
from _openai_server_helpers import TOKEN, reply_events, running, say, sdk_client
from openai import AsyncOpenAI

from beluga_voice.providers.config import S2SConfig, with_provider_specific
from beluga_voice.providers.events import AudioChunk, ResponseDone, Transcript
from beluga_voice.providers.mock import AdvancedMockS2SProvider
from beluga_voice.providers.registry import new_provider
from beluga_voice.testing.fake_realtime import FakeRealtimeServer, Reply, check_client_event
from beluga_voice.testing.speech import tone
from beluga_voice.transports.openai_realtime_server import ProviderBackend, parse_client_event
from beluga_voice.transports.openai_realtime_server.schema import EventProblem

pytestmark = pytest.mark.anyio


async def test_our_openai_realtime_provider_as_the_client() -> None:
    mock = AdvancedMockS2SProvider(transcripts=["Hello from behind the server."])
    async with running(ProviderBackend(provider=mock)) as server:
        provider = new_provider(
            "openai_realtime",
            S2SConfig(api_key=TOKEN, timeout=10.0),
            with_provider_specific(base_url=server.base_url + "/realtime", instructions="Be kind."),
        )
        async with provider.stream() as session:  # type: ignore[attr-defined]
            await session.send_text("hello")
            first = await reply_events(session)
            await session.speak("Goodbye now.")
            second = await reply_events(session)
    audio = sum(len(e.audio) for e in first if isinstance(e, AudioChunk))
    said = [e.text for e in first if isinstance(e, Transcript) and e.final]
    assert audio > 0
    assert said == ["Hello from behind the server."]
    assert isinstance(first[-1], ResponseDone) and first[-1].status == "completed"
    assert mock.received_text == ["hello"]
    assert mock.spoken_text == ["Goodbye now."]  # our client's out-of-band speak
    assert isinstance(second[-1], ResponseDone) and second[-1].status == "completed"


async def test_openai_itself_as_the_backend_a_proxy() -> None:
    async with FakeRealtimeServer(
        "openai", api_key="sk-upstream", script=[Reply(tone(0.4), "From upstream.")]
    ) as upstream:
        config = S2SConfig(
            api_key="sk-upstream",
            timeout=10.0,
            provider_specific={"base_url": upstream.url},
        )
        backend = ProviderBackend("openai_realtime", config)
        async with running(backend) as server, sdk_client(server) as c:
            await c.send(
                {"type": "session.update", "session": {"type": "realtime", "instructions": "Hi."}}
            )
            await c.until("session.updated")
            await c.send(say("hello upstream"))
            await c.send({"type": "response.create"})
            done = await c.until("response.done")
        sent = upstream.records.sessions[-1]
    assert done["response"]["output"][0]["content"][0]["transcript"] == "From upstream."
    assert len(c.audio()) > 0
    assert sent["instructions"] == "Hi."  # the client's settings reached OpenAI
    assert upstream.records.violations == []
    assert c.problems == []


async def test_serve_command_speaks_openai_realtime() -> None:
    process = await anyio.open_process(
        [
            sys.executable,
            "-m",
            "beluga_voice.cli",
            "serve",
            "--protocol",
            "openai-realtime",
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        banner = b""
        with anyio.fail_after(20):
            while b"\n" not in banner:
                banner += await process.stdout.receive()
        match = re.search(r"on (ws://127\.0\.0\.1:\d+/v1)/realtime", banner.decode())
        assert match, banner
        client = AsyncOpenAI(api_key="unused-on-loopback", websocket_base_url=match.group(1))
        with anyio.fail_after(20):
            async with client.realtime.connect(model="gpt-realtime") as conn:
                await conn.conversation.item.create(
                    item={
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "what is two plus two"}],
                    }
                )
                await conn.response.create()
                async for event in conn:
                    if event.type == "response.done":
                        break
        assert event.response.output is not None
        content = event.response.output[0].content  # type: ignore[union-attr]
        assert content is not None and content[0].transcript == "That is 4."
    finally:
        process.terminate()
        with anyio.fail_after(10):
            await process.wait()


_ACCEPTED: list[dict[str, Any]] = [
    {"type": "session.update", "session": {"type": "realtime"}},
    {
        "type": "session.update",
        "event_id": "e",
        "session": {
            "type": "realtime",
            "model": "gpt-realtime",
            "instructions": "x",
            "output_modalities": ["audio"],
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": {"model": "whisper-1", "language": "en"},
                    "noise_reduction": {"type": "near_field"},
                    "turn_detection": {
                        "type": "server_vad",
                        "threshold": 0.4,
                        "prefix_padding_ms": 200,
                        "silence_duration_ms": 400,
                        "create_response": True,
                        "interrupt_response": True,
                    },
                },
                "output": {"format": {"type": "audio/pcma"}, "voice": "marin", "speed": 1.1},
            },
            "tools": [{"type": "function", "name": "f", "description": "d", "parameters": {}}],
            "tool_choice": "auto",
            "max_output_tokens": 200,
        },
    },
    {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "audio": {"input": {"turn_detection": {"type": "semantic_vad", "eagerness": "low"}}},
            "tool_choice": {"type": "function", "name": "f"},
        },
    },
    {
        "type": "session.update",
        "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}},
    },
    {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "prompt": None,
            "include": None,
            "truncation": "auto",
            "audio": {"input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": None}}},
        },
    },
    {"type": "input_audio_buffer.append", "audio": "AAAA"},
    {"type": "input_audio_buffer.commit"},
    {"type": "input_audio_buffer.clear"},
    {
        "type": "conversation.item.create",
        "previous_item_id": "root",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "hi"}],
        },
    },
    {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "system",
            "content": [{"type": "input_text", "text": "s"}],
        },
    },
    {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "a"}],
        },
    },
    {
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": "c", "output": "{}"},
    },
    {"type": "conversation.item.truncate", "item_id": "i", "content_index": 0, "audio_end_ms": 10},
    {"type": "conversation.item.delete", "item_id": "i"},
    {"type": "conversation.item.retrieve", "item_id": "i"},
    {"type": "response.create"},
    {
        "type": "response.create",
        "response": {
            "conversation": "none",
            "instructions": "<say>x</say>",
            "metadata": {"k": "v"},
        },
    },
    {"type": "response.cancel", "response_id": "r"},
]

_REFUSED: list[dict[str, Any]] = [
    {"type": "session.update", "session": {"type": "transcription"}},
    {"type": "session.update", "session": {"type": "realtime", "prompt": {"id": "p"}}},
    {"type": "session.update", "session": {"type": "realtime", "truncation": "disabled"}},
    {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "audio": {"input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 5000}}},
        },
    },
    {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}},
        },
    },
    {"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}},
    {"type": "input_audio_buffer.append"},
    {
        "type": "conversation.item.create",
        "item": {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
    },
    {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_audio", "audio": "AAAA"}],
        },
    },
    {"type": "response.create", "response": {"tools": []}},
    {"type": "output_audio_buffer.clear"},
    {"type": "transcription_session.update", "session": {}},
    {"type": "response.cancel", "extra": 1},
]


@pytest.mark.parametrize("event", _ACCEPTED)
def test_every_event_we_accept_is_a_valid_sdk_client_event(event: dict[str, Any]) -> None:
    parse_client_event(event)  # ours accepts it...
    assert check_client_event(event, "openai") is None  # ...and so does the SDK


@pytest.mark.parametrize("event", _REFUSED)
def test_what_we_cannot_honour_is_refused_with_a_reason(event: dict[str, Any]) -> None:
    with pytest.raises(EventProblem) as info:
        parse_client_event(event)
    assert info.value.code in {
        "unknown_parameter",
        "invalid_value",
        "invalid_event",
        "unsupported_event",
    }
    assert info.value.message


def test_serve_fails_at_once_without_the_backends_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from beluga_voice.cli import app

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    args = [
        "serve",
        "--protocol",
        "openai-realtime",
        "--provider",
        "openai_realtime",
        "--port",
        "0",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "needs an API key" in result.output
    wrong = CliRunner().invoke(app, ["serve", "--protocol", "sip"])
    assert wrong.exit_code == 1 and "unknown protocol" in wrong.output
