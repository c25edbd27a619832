"""Shared pieces of the OpenAI-compatible server tests: a running server, an SDK client
that checks every server event against the SDK's ``RealtimeServerEvent``."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import numpy as np
from openai import AsyncOpenAI

from beluga_voice.providers.events import ResponseDone, SessionEvent
from beluga_voice.testing.fake_realtime import check_client_event, check_server_event
from beluga_voice.testing.speech_corpus import speech
from beluga_voice.transports.openai_realtime_server import Backend, OpenAIRealtimeServer
from beluga_voice.transports.websocket import ServerConfig

TOKEN = "sk-test-server-token"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def spoken(text: str, *, rate: int = 24000, lead_s: float = 0.3, tail_s: float = 1.2) -> bytes:
    """``text`` spoken by espeak-ng at ``rate``, with silence around it."""
    voice = speech(text, rate=rate)
    pad = np.zeros(int(lead_s * rate), dtype=np.int16)
    tail = np.zeros(int(tail_s * rate), dtype=np.int16)
    return np.concatenate([pad, voice, tail]).astype("<i2").tobytes()


async def reply_events(session: Any, timeout: float = 20.0) -> list[SessionEvent]:
    """A provider session's events up to and including the next ``ResponseDone``."""
    events: list[SessionEvent] = []
    with anyio.fail_after(timeout):
        async for event in session:
            events.append(event)
            if isinstance(event, ResponseDone):
                return events
    raise AssertionError("the session ended without a reply")


def say(text: str, role: str = "user") -> dict[str, Any]:
    """A ``conversation.item.create`` of a text message."""
    content = [{"type": "input_text", "text": text}]
    return {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": role, "content": content},
    }


@asynccontextmanager
async def running(
    backend: Backend | None = None, **config: Any
) -> AsyncIterator[OpenAIRealtimeServer]:
    cfg = ServerConfig(token=TOKEN, max_message_bytes=1 << 20, **config)
    async with OpenAIRealtimeServer(backend, cfg) as server:
        yield server


class Client:
    """An SDK connection whose every received event is checked against the SDK schema."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.events: list[dict[str, Any]] = []
        self.problems: list[str] = []

    async def send(self, event: dict[str, Any]) -> None:
        problem = check_client_event(event, "openai")
        assert problem is None, problem
        await self.conn.send(event)

    async def recv(self) -> dict[str, Any]:
        raw = await self.conn.recv_bytes()
        event = json.loads(raw)
        problem = check_server_event(event, "openai")
        if problem:
            self.problems.append(problem)
        self.conn.parse_event(raw)  # the SDK's own parser takes it
        self.events.append(event)
        return event

    async def until(self, kind: str, timeout: float = 20.0, **match: Any) -> dict[str, Any]:
        with anyio.fail_after(timeout):
            while True:
                event = await self.recv()
                if event["type"] == kind and all(_get(event, k) == v for k, v in match.items()):
                    return event

    async def append(self, pcm: bytes, chunk: int = 4800) -> None:
        for i in range(0, len(pcm), chunk):
            await self.conn.input_audio_buffer.append(
                audio=base64.b64encode(pcm[i : i + chunk]).decode()
            )

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def audio(self, response_id: str | None = None) -> bytes:
        return b"".join(
            base64.b64decode(e["delta"])
            for e in self.events
            if e["type"] == "response.output_audio.delta"
            and (response_id is None or e["response_id"] == response_id)
        )


def _get(event: dict[str, Any], dotted: str) -> Any:
    value: Any = event
    for part in dotted.split("__"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


@asynccontextmanager
async def sdk_client(server: OpenAIRealtimeServer, token: str = TOKEN) -> AsyncIterator[Client]:
    client = AsyncOpenAI(api_key=token, websocket_base_url=server.base_url)
    async with client.realtime.connect(model="gpt-realtime") as conn:
        c = Client(conn)
        created = await c.recv()
        assert created["type"] == "session.created"
        yield c
