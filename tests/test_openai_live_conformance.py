"""openai_live against the official SDK: every client event we send validates against
``openai.types.live.ClientEvent``, every event the fake sends against ``ServerEvent``,
and the SDK's own Live client completes a session on the fake."""

from __future__ import annotations

import base64
import json

import anyio
import pytest
from _live_helpers import KEY, conversation, events_until, send_speech, speech
from openai import AsyncOpenAI
from pydantic import TypeAdapter

from beluga_voice.conversation import Turn
from beluga_voice.providers.events import ResponseDone, SessionClosed, ToolCall, Usage
from beluga_voice.providers.openai_live import LiveProtocol, OpenAILiveSettings
from beluga_voice.providers.openai_live.settings import FunctionTool
from beluga_voice.testing.fake_live import Delegate, FakeLiveServer, Reply
from beluga_voice.testing.fake_live.schema import SDK_AVAILABLE

from openai.types.live import ClientEvent, SessionStartEvent  # isort: skip

pytestmark = pytest.mark.anyio
CLIENT = TypeAdapter(ClientEvent)


def test_sdk_types_are_installed() -> None:
    assert SDK_AVAILABLE


def _started(core: LiveProtocol) -> None:
    core.receive(
        json.dumps(
            {
                "type": "session.started",
                "event_id": "e1",
                "session": {"id": "s1", "expires_at": 1, "model": "gpt-live-1", "status": "active"},
            }
        )
    )


@pytest.mark.parametrize("mode", ["client", "responses"])
def test_every_client_event_validates_against_the_sdk_union(mode: str) -> None:
    settings = OpenAILiveSettings(
        instructions="Be brief.",
        voice="marin",
        responses_model="gpt-5.5",
        responses_instructions="Use tools.",
        responses_max_output_tokens=512,
        web_search=True,
        tools=[FunctionTool(name="get_weather", parameters={"type": "object", "properties": {}})],
        acknowledgement_delay_ms=400,
        store=False,
        safety_identifier="user-1",
    )
    history = [
        Turn("user", "Hi"),
        Turn("assistant", "Hello!"),
        Turn("tool", "42"),
        Turn("system", "Note"),
    ]
    core = LiveProtocol(settings, history, delegation=mode)
    core.start()
    _started(core)
    core.audio(speech()[:4800])
    core.mute(True)
    core.mute(False)
    core.context("Say hello.", kind="commentary")
    core.context("Silent note.", kind="thinking")
    core.context("A rule.", kind="instructions")
    # A client delegation answered, and a backend function call answered.
    core.receive(
        json.dumps(
            {
                "type": "session.delegation.created",
                "event_id": "e2",
                "offset_ms": 5,
                "delegation": {"id": "d1", "type": "delegation", "target": "client"},
            }
        )
    )
    core.answer("d1", "It is sunny. " * 300)  # long: split into several appends
    core.receive(
        json.dumps(
            {
                "type": "response.event",
                "event_id": "e3",
                "delegation_id": "d2",
                "event": {
                    "type": "response.output_item.done",
                    "item": {
                        "type": "function_call",
                        "call_id": "c1",
                        "name": "get_weather",
                        "arguments": "{}",
                    },
                },
            }
        )
    )
    core.answer("c1", '{"temp": 21}')
    core.interrupt(None)
    core.close()
    sent = core.take_outbound()
    kinds = [e["type"] for e in sent]
    assert kinds[0] == "session.start"
    assert {
        "session.input_audio.append",
        "session.input_audio.mute",
        "session.commentary.append",
        "session.thinking.append",
        "session.instructions.append",
        "response.item.create",
        "response.create",
        "session.close",
    } <= set(kinds)
    for event in sent:
        CLIENT.validate_python(event)  # raises on any mismatch
    start = SessionStartEvent.model_validate(sent[0])
    assert start.session.delegation is not None and start.session.delegation.type == mode
    assert start.session.audio is not None and start.session.audio.format is not None
    assert [item.role for item in start.session.input or []] == [
        "user",
        "assistant",
        "developer",
        "developer",
    ]
    assert all(len(e["content"]) <= settings.append_max_chars for e in sent if "content" in e)


async def test_the_fake_and_our_client_exchange_only_sdk_valid_events() -> None:
    script = [Reply(transcript="Hi there!"), Delegate(ack="Let me check.")]
    async with conversation(script=script) as (fake, session):
        await send_speech(session)
        await events_until(session, ResponseDone)
        await send_speech(session)
        events = await events_until(session, ToolCall)
        call = events[-1]
        assert isinstance(call, ToolCall)
        await session.send_tool_result(call.call_id, "It is sunny.")
        await events_until(session, ResponseDone)
    assert fake.records.violations == []
    assert fake.records.server_violations == []
    assert fake.records.types()[-1] == "session.close"


async def test_official_sdk_live_client_completes_a_session_on_the_fake() -> None:
    """``client.live.connect()``: start, an audio turn, a delegation round trip, close."""
    script = [Reply(transcript="Hello!"), Delegate(ack="One moment.")]
    async with FakeLiveServer(script=script, api_key=KEY) as fake:
        client = AsyncOpenAI(api_key=KEY, websocket_base_url=fake.base_url)
        async with client.live.connect(max_retries=0) as conn:
            await conn.session.start(
                session={
                    "model": "gpt-live-1",
                    "audio": {"format": {"type": "audio/pcm", "rate": 24000}},
                    "delegation": {"type": "client"},
                }
            )
            with anyio.fail_after(5):
                started = await conn.recv()
            assert started.type == "session.started"
            seen: list[str] = []
            pcm = speech()
            for _turn in range(2):
                for i in range(0, len(pcm), 4800):
                    await conn.session.input_audio.append(
                        audio=base64.b64encode(pcm[i : i + 4800]).decode()
                    )
                with anyio.fail_after(5):
                    async for event in conn:
                        seen.append(event.type)
                        if event.type == "session.delegation.created":
                            await conn.session.commentary.append(
                                content="It is sunny.", delegation_id=event.delegation.id
                            )
                        if event.type == "session.usage.updated":
                            break
            await conn.session.close()
            with anyio.fail_after(5):
                async for event in conn:
                    if event.type == "session.closed":
                        closed = event
                        break
        await client.close()
    assert closed.reason == "close_requested" and closed.usage.seconds >= 2.0
    assert {
        "session.input_transcript.delta",
        "session.output_audio.delta",
        "session.output_transcript.delta",
        "session.delegation.created",
        "session.commentary.appended",
    } <= set(seen)
    assert fake.records.violations == [] and fake.records.server_violations == []


async def test_close_reports_final_usage_from_session_closed() -> None:
    async with conversation() as (fake, session):
        await send_speech(session)
        await events_until(session, ResponseDone)
        await session.close()
        rest = [e async for e in session]
    usage = [e for e in rest if isinstance(e, Usage)]
    assert usage and usage[-1].details["seconds"] == 1.0
    assert isinstance(rest[-1], SessionClosed) and rest[-1].error is None
    assert fake.records.closes == 1
