"""The OpenAI-compatible server's backends and limits: the client's settings reach each
provider in that provider's own terms, Gemini answers through the server, our own client
holds a spoken conversation, and one bad client or a quiet one harms nobody else."""

from __future__ import annotations

import json

import anyio
import pytest
from _openai_server_helpers import TOKEN, WEATHER, reply_events, running, say, sdk_client, spoken
from websockets.asyncio.client import connect

from beluga_voice.conversation import ConversationContext
from beluga_voice.providers.base import StreamingSession
from beluga_voice.providers.config import S2SConfig, with_provider_specific
from beluga_voice.providers.events import AudioChunk, SessionEvent, Transcript
from beluga_voice.providers.registry import get_provider_spec, new_provider, validate_settings
from beluga_voice.testing.fake_gemini import FakeGeminiServer
from beluga_voice.testing.speech import tone
from beluga_voice.transports.openai_realtime_server import (
    BackendSession,
    BackendSettings,
    OpenAIRealtimeServer,
    ProviderBackend,
    provider_settings,
)
from beluga_voice.transports.websocket import ServerConfig

pytestmark = pytest.mark.anyio

_VARIANTS = [
    BackendSettings(),
    BackendSettings(
        instructions="Be brief.",
        voice="marin",
        tools=[WEATHER],
        tool_choice="required",
        turn_detection={
            "type": "server_vad",
            "threshold": 0.4,
            "prefix_padding_ms": 200,
            "silence_duration_ms": 700,
            "create_response": True,
            "interrupt_response": False,
        },
    ),
    BackendSettings(voice="eve", turn_detection={"type": "semantic_vad", "eagerness": "low"}),
    BackendSettings(instructions="x", turn_detection=None),
]


@pytest.mark.parametrize(
    "name", ["openai_realtime", "grok", "openai_live", "gemini", "amazon_nova", "local"]
)
@pytest.mark.parametrize("settings", _VARIANTS)
def test_client_settings_become_valid_provider_settings(
    name: str, settings: BackendSettings
) -> None:
    specific = provider_settings(name, settings)
    validate_settings(get_provider_spec(name), specific)  # raises on a key it does not know
    if settings.instructions:
        assert settings.instructions in specific.values()
    if settings.tools and name not in ("local", "openai_live"):  # see provider_settings
        assert specific["tools"][0]["name"] == "get_weather"


async def test_gemini_behind_the_server() -> None:
    async with FakeGeminiServer(api_key="AIza-test-key") as upstream:
        config = S2SConfig(
            provider="gemini",
            api_key="AIza-test-key",
            timeout=10.0,
            provider_specific={"base_url": upstream.url},
        )
        async with running(ProviderBackend("gemini", config)) as server, sdk_client(server) as c:
            await c.send(
                {
                    "type": "session.update",
                    "session": {"type": "realtime", "instructions": "Be kind."},
                }
            )
            await c.until("session.updated")
            await c.send(say("hello"))
            await c.send({"type": "response.create"})
            done = await c.until("response.done")
    assert done["response"]["status"] == "completed"
    assert len(c.audio(done["response"]["id"])) > 0
    setup = upstream.setups[-1]
    assert "Be kind." in json.dumps(setup.get("systemInstruction"))
    assert upstream.texts == ["hello"]
    assert upstream.violations == []
    assert c.problems == []


async def test_our_client_holds_a_spoken_conversation_with_the_local_voice() -> None:
    async with running(ProviderBackend("local")) as server:
        provider = new_provider(
            "openai_realtime",
            S2SConfig(api_key=TOKEN, timeout=10.0),
            with_provider_specific(base_url=server.base_url + "/realtime"),
        )
        async with provider.stream() as session:  # type: ignore[attr-defined]
            audio = spoken("what is two plus two")
            for i in range(0, len(audio), 960):
                await session.send_audio(audio[i : i + 960])
            events = await reply_events(session)
    said = [(e.role, e.text) for e in events if isinstance(e, Transcript) and e.final]
    assert ("user", "what is two plus two") in said
    assert ("assistant", "That is 4.") in said


async def test_a_bad_client_does_not_disturb_another() -> None:
    async with running(ProviderBackend("local"), max_protocol_errors=3) as server:
        url = server.base_url + "/realtime?model=gpt-realtime"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with connect(url, additional_headers=headers) as rude:
            await rude.recv()
            for junk in ("{", "[]", '{"type": 7}', '{"type": "x"}', '{"type": "y"}'):
                await rude.send(junk)
            with anyio.fail_after(5):
                await rude.wait_closed()
        async with sdk_client(server) as c:
            await c.send(say("what is two plus two"))
            await c.send({"type": "response.create"})
            done = await c.until("response.done")
    assert rude.close_code == 1008
    assert done["response"]["output"][0]["content"][0]["transcript"] == "That is 4."
    assert server.sessions_failed == 0


async def test_an_idle_client_is_closed() -> None:
    async with running(ProviderBackend("mock"), idle_timeout=0.3) as server:
        url = server.base_url + "/realtime?model=gpt-realtime"
        async with connect(url, additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
            await ws.recv()
            with anyio.fail_after(5):
                await ws.wait_closed()
    assert ws.close_code == 4408


async def test_only_the_realtime_path_is_served() -> None:
    async with running(ProviderBackend("mock")) as server:
        url = server.base_url + "/other"
        with pytest.raises(Exception, match="404"):
            async with connect(url, additional_headers={"Authorization": f"Bearer {TOKEN}"}):
                pass


class _Endless(StreamingSession):
    """A backend that talks forever, as fast as it is read."""

    def __init__(self, context: ConversationContext) -> None:
        super().__init__("endless", context)
        self._chunk = tone(0.2, rate=24000)

    async def send_audio(self, audio: bytes) -> None:
        pass

    async def _receive(self) -> list[SessionEvent]:
        await anyio.lowlevel.checkpoint()
        return [AudioChunk(self._chunk, 24000, response_id="r")]


class _EndlessBackend:
    async def open(self, settings: BackendSettings, context: ConversationContext) -> BackendSession:
        return BackendSession(_Endless(context), 24000)


async def test_a_client_that_stops_reading_is_let_go() -> None:
    config = ServerConfig(token=TOKEN, max_message_bytes=1 << 20)
    server = OpenAIRealtimeServer(_EndlessBackend(), config, send_timeout=0.5)
    async with server:
        url = server.base_url + "/realtime?model=gpt-realtime"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with connect(url, additional_headers=headers, max_queue=1, close_timeout=0.5) as ws:
            await ws.recv()
            update = {"type": "session.update", "session": {"type": "realtime"}}
            await ws.send(json.dumps(update))  # opens the backend, which never stops talking
            with anyio.fail_after(20):  # and the client never reads another message
                await server.wait_idle()
    assert server.active_sessions == 0
    assert server.sessions_failed == 0
