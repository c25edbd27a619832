"""Conformance: the fake against the official google-genai SDK, and our messages against
the SDK's schemas.

The SDK builds its WebSocket URL from ``HttpOptions.base_url`` by switching the scheme to
``wss`` and appending ``/ws/google.ai.generativelanguage.{api_version}.GenerativeService.
BidiGenerateContent``; the fake therefore serves TLS here, with a throwaway CA (trustme)
that the SDK trusts through ``async_client_args={"ssl": ...}``.
"""

from __future__ import annotations

import json
import ssl

import pytest
import trustme
from _gemini_helpers import KEY, SPEECH, events_until, make_provider, send_pcm
from google import genai
from google.genai import types

from beluga_voice.providers.events import ToolCall
from beluga_voice.testing.fake_gemini import FakeGeminiServer, ScriptedTurn
from beluga_voice.testing.fake_gemini.schema import check_client_message, check_server_message
from beluga_voice.testing.speech import tone

pytestmark = pytest.mark.anyio

REPLY = tone(0.3, 24000, hz=500.0)


@pytest.fixture(scope="module")
def tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


async def test_the_official_sdk_completes_a_turn_against_the_fake(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_ctx, client_ctx = tls
    turn = ScriptedTurn(audio=REPLY, transcript="Hi there.", user_transcript="hello")
    async with FakeGeminiServer([turn], api_key=KEY, ssl_context=server_ctx) as server:
        client = genai.Client(
            api_key=KEY,
            http_options=types.HttpOptions(
                base_url=server.http_base_url,
                api_version="v1beta",
                async_client_args={"ssl": client_ctx},
            ),
        )
        config = types.LiveConnectConfig(
            response_modalities=[types.Modality.AUDIO],
            input_audio_transcription=types.AudioTranscriptionConfig(),
            output_audio_transcription=types.AudioTranscriptionConfig(),
            realtime_input_config=types.RealtimeInputConfig(
                automatic_activity_detection=types.AutomaticActivityDetection(
                    disabled=False, silence_duration_ms=300
                )
            ),
            session_resumption=types.SessionResumptionConfig(),
            context_window_compression=types.ContextWindowCompressionConfig(
                sliding_window=types.SlidingWindow()
            ),
        )
        audio = bytearray()
        said, heard = [], []
        async with client.aio.live.connect(model="gemini-3.8-live", config=config) as session:
            for i in range(0, len(SPEECH), 640):
                await session.send_realtime_input(
                    audio=types.Blob(data=SPEECH[i : i + 640], mime_type="audio/pcm;rate=16000")
                )
            async for message in session.receive():
                content = message.server_content
                if message.data:
                    audio += message.data
                if content and content.input_transcription:
                    said.append(content.input_transcription.text)
                if content and content.output_transcription:
                    heard.append(content.output_transcription.text)
                if content and content.turn_complete:
                    break
    assert bytes(audio) == REPLY
    assert "".join(said).strip() == "hello" and "".join(heard).strip() == "Hi there."
    assert server.violations == []
    assert server.headers[0]["x-goog-api-key"] == KEY
    assert server.setups[0]["model"] == "models/gemini-3.8-live"


async def test_sdk_tool_response_and_text_are_accepted(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_ctx, client_ctx = tls
    turn = ScriptedTurn(audio=REPLY, tool_call=("lookup", {"q": "x"}))
    async with FakeGeminiServer([turn], api_key=KEY, ssl_context=server_ctx) as server:
        client = genai.Client(
            api_key=KEY,
            http_options=types.HttpOptions(
                base_url=server.http_base_url, async_client_args={"ssl": client_ctx}
            ),
        )
        config = types.LiveConnectConfig(response_modalities=[types.Modality.AUDIO])
        audio = bytearray()
        async with client.aio.live.connect(model="gemini-3.8-live", config=config) as s:
            await s.send_client_content(
                turns=types.Content(role="user", parts=[types.Part(text="look it up")])
            )
            async for message in s.receive():
                if message.tool_call:
                    call = message.tool_call.function_calls[0]
                    await s.send_tool_response(
                        function_responses=types.FunctionResponse(
                            id=call.id, name=call.name, response={"result": "found"}
                        )
                    )
                if message.data:
                    audio += message.data
                if message.server_content and message.server_content.turn_complete:
                    break
    assert bytes(audio) == REPLY
    assert server.tool_responses[0]["response"] == {"result": "found"}
    assert server.violations == []


async def test_every_message_of_a_busy_beluga_session_validates() -> None:
    turns = [ScriptedTurn(audio=REPLY, tool_call=("f", {"a": 1}))] + [ScriptedTurn(audio=REPLY)] * 3
    async with FakeGeminiServer(turns, api_key=KEY) as server:
        provider = make_provider(
            server,
            tools=[{"name": "f", "description": "a tool", "parameters": {"type": "object"}}],
            system_instruction="Be brief.",
            start_sensitivity="high",
        )
        async with provider.stream() as session:
            await send_pcm(session, SPEECH)
            events = await events_until(session, ToolCall)
            call = next(e for e in events if isinstance(e, ToolCall))
            await session.send_tool_result(call.call_id, "done")
            await events_until(session)
            await session.send_text("and now?")
            await session.speak("Saying this.")
            await session.end_turn()
            await events_until(session, count=2)
    assert len(server.received) > 30
    for _, message in server.received:
        check_client_message(json.dumps(message))
    for _, message in server.sent:
        assert check_server_message(json.dumps(message)) is None
    assert server.violations == []


def test_the_fake_flags_what_the_real_service_would_refuse() -> None:
    from beluga_voice.testing.fake_gemini.schema import ClientMessageError

    bad = [
        '{"realtimeInput": {"audio": {"mimeType": "audio/wav", "data": "AAAA"}}}',
        '{"realtimeInput": {"audio": {"mimeType": "audio/pcm;rate=16000", "data": "A$=="}}}',
        '{"realtimeInput": {"audio": {"mimeType": "audio/pcm;rate=16000", "data": "AAAA"}}}',
        '{"realtimeInput": {"text": "a", "audioStreamEnd": true}}',
        '{"setup": {"model": "m", "generationConfig": {"responseModality": ["AUDIO"]}}}',
        '{"setup": {"model": "m", "realtimeInputConfig": {"automaticActivityDetection": {"off": 1}}}}',
        '{"setup": {}, "clientContent": {}}',
        '{"toolResponse": {"functionResponses": [{"id": "x", "reponse": {}}]}}',
        "[]",
        "{",
    ]
    for raw in bad:
        with pytest.raises(ClientMessageError):
            check_client_message(raw)
    assert check_server_message('{"serverContent": {"turnComplete": true}}') is None
    assert check_server_message('{"serverContent": {"turnDone": true}}') is not None
