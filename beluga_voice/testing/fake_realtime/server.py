"""``FakeRealtimeServer``: an offline stand-in for OpenAI Realtime and Grok Voice Agent.

It listens on 127.0.0.1 (port 0 by default, so tests never collide), speaks the GA
realtime protocol in either flavour, detects speech in the audio it receives with a
plain energy detector, answers each user turn with the next entry of its script and
records everything it was sent.  Use it as an async context manager::

    async with FakeRealtimeServer("openai", script=[Reply(tone(0.5), "Hi!")]) as fake:
        provider = new_provider("openai_realtime", S2SConfig(api_key="test"),
                                with_provider_specific(base_url=fake.base_url + "/realtime"))

Faults (:class:`Faults`) make it reject handshakes, send error events, drop or stall
mid-reply and send malformed frames, so that client recovery can be tested offline.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal

import anyio
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from ...audio.turns import tone
from ..loopback import LoopbackServer, quiet_logger
from .conversation import FakeConversation
from .script import Faults, Reply, ScriptEntry

__all__ = ["FakeRealtimeServer", "Records"]

_log = quiet_logger("beluga_voice.testing.fake_realtime")

Flavour = Literal["openai", "grok"]


@dataclass
class Records:
    """Everything clients did, across all connections."""

    handshakes: int = 0
    connections: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    """Client events that the SDK's schema rejects (should stay empty)."""
    server_violations: list[str] = field(default_factory=list)
    """Events this fake sent that the SDK's schema rejects (should stay empty)."""
    sessions: list[dict[str, Any]] = field(default_factory=list)
    audio_bytes: int = 0
    audio_per_connection: list[int] = field(default_factory=list)
    binary_frames: int = 0
    commits: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    cancels: int = 0
    errors_sent: list[dict[str, Any]] = field(default_factory=list)
    """Every ``error`` object the fake sent (a refused event, a cancel with nothing live)."""
    deleted: list[str] = field(default_factory=list)
    forced: list[str] = field(default_factory=list)
    """Texts of Grok ``force_message`` items (lines voiced as written)."""
    truncations: list[tuple[str, int, int]] = field(default_factory=list)
    tool_outputs: list[tuple[str, str]] = field(default_factory=list)

    def types(self) -> list[str]:
        return [str(e.get("type")) for e in self.events]


class FakeRealtimeServer(LoopbackServer):
    """See the module docstring.

    ``script`` entries are used in order, one per response (cycling); a
    :class:`FunctionCall` entry asks for a tool and the reply that follows the tool
    output is the next entry.  ``user_transcripts`` are the transcripts reported for
    successive user turns.  ``pace`` is the reply speed: 0 sends audio as fast as
    possible, 1.0 at real time (so that a barge-in can land mid-reply).
    ``update_delay`` holds each ``session.updated`` back (a slow server).  ``speak_audio`` answers out-of-band responses (``conversation: "none"``), whose
    transcript is their instructions.  ``api_key``, when set, is the only bearer token accepted (401 otherwise).
    """

    def __init__(
        self,
        flavour: Flavour = "openai",
        *,
        script: Sequence[ScriptEntry] = (),
        user_transcripts: Sequence[str] = ("Hello there.",),
        api_key: str | None = None,
        chunk_ms: int = 40,
        pace: float = 0.0,
        speech_rms: float = 500.0,
        faults: Faults | None = None,
        speak_audio: bytes | None = None,
        update_delay: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if flavour not in ("openai", "grok"):
            raise ValueError(f"flavour must be 'openai' or 'grok', got {flavour!r}")
        self.flavour: Flavour = flavour
        self.script: list[ScriptEntry] = list(script) or [Reply()]
        self.user_transcripts = list(user_transcripts) or ["Hello there."]
        self.api_key = api_key
        self.chunk_ms = chunk_ms
        self.pace = pace
        self.speech_rms = speech_rms
        self.faults = faults or Faults()
        self.speak_audio = speak_audio if speak_audio is not None else tone(0.3)
        self.update_delay = update_delay
        super().__init__(host=host, port=port, logger=_log)
        self.records = Records()
        self.turns = 0
        self._live: set[FakeConversation] = set()
        self._waiters: list[tuple[int, anyio.Event]] = []

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``ws://127.0.0.1:PORT/v1``: the SDK's ``websocket_base_url``."""
        return f"ws://{self.host}:{self.port}/v1"

    @property
    def url(self) -> str:
        """The realtime endpoint, without the model query."""
        return self.base_url + "/realtime"

    # -- faults at run time --------------------------------------------------------------------

    async def send_error(
        self, code: str, message: str, kind: str = "invalid_request_error"
    ) -> None:
        """Send an ``error`` event on every live connection."""
        for conv in list(self._live):
            await conv.send_error(code, message, kind)

    async def send_raw(self, frame: str | bytes) -> None:
        """Send a raw frame (malformed on purpose) on every live connection."""
        for conv in list(self._live):
            with contextlib.suppress(Exception):
                await conv.ws.send(frame)

    async def close_all(self, code: int = 1000, reason: str = "") -> None:
        """Close every live connection with a close frame (``code`` as a real server would)."""
        for conv in list(self._live):
            with contextlib.suppress(Exception):
                await conv.ws.close(code, reason)

    async def drop_all(self) -> None:
        """Cut every live connection without a close frame."""
        for conv in list(self._live):
            conv.abort()

    async def wait_for_connections(self, count: int) -> None:
        """Return once ``count`` connections have been accepted in total."""
        if self.records.connections >= count:
            return
        event = anyio.Event()
        self._waiters.append((count, event))
        await event.wait()

    @property
    def live_connections(self) -> int:
        return len(self._live)

    # -- script -------------------------------------------------------------------------------

    def next_entry(self) -> ScriptEntry:
        entry = self.script[self.turns % len(self.script)]
        self.turns += 1
        return entry

    def user_transcript(self, turn: int) -> str:
        return self.user_transcripts[turn % len(self.user_transcripts)]

    # -- connections --------------------------------------------------------------------------

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        """The handshake, as the services answer it: the path (``/v1/realtime``, or Azure
        OpenAI's ``/openai/v1/realtime``), then the key (``Authorization: Bearer``, or
        Azure's ``api-key`` header); a wrong key gets a 401 whose JSON body names it."""
        self.records.handshakes += 1
        if self.faults.reject_handshakes:
            status = self.faults.reject_handshakes.pop(0)
            return connection.respond(HTTPStatus(status), f"injected HTTP {status}\n")
        path, _, query = request.path.partition("?")
        azure = path.rstrip("/") == "/openai/v1/realtime" and self.flavour == "openai"
        if (path.rstrip("/") != "/v1/realtime" and not azure) or "model=" not in query:
            return connection.respond(HTTPStatus.NOT_FOUND, "expected /v1/realtime?model=\n")
        if azure:
            key = request.headers.get("api-key", "")
        else:
            auth = request.headers.get("Authorization", "")
            key = auth[len("Bearer ") :] if auth.startswith("Bearer ") else ""
        if not key or (self.api_key is not None and key != self.api_key):
            return self._unauthorized(connection, key, azure)
        return None

    def _unauthorized(self, connection: ServerConnection, key: str, azure: bool) -> Response:
        shown = f"{key[:3]}***{key[-4:]}" if len(key) > 8 else "***"
        body: dict[str, Any]
        if azure:
            body = {
                "error": {
                    "code": "401",
                    "message": "Access denied due to invalid subscription key or wrong API "
                    "endpoint. Make sure to provide a valid key for an active subscription and "
                    "use a correct regional API endpoint for your resource.",
                }
            }
        elif self.flavour == "grok":
            body = {
                "code": "Client specified an invalid argument",
                "error": f"Incorrect API key provided: {shown}. You can obtain an API key "
                "from https://console.x.ai.",
            }
        else:
            body = {
                "error": {
                    "message": f"Incorrect API key provided: {shown}. You can find your API "
                    "key at https://platform.openai.com/account/api-keys.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "invalid_api_key",
                }
            }
        response = connection.respond(HTTPStatus.UNAUTHORIZED, json.dumps(body))
        response.headers["Content-Type"] = "application/json"
        return response

    async def _handle(self, ws: ServerConnection) -> None:
        self.records.connections += 1
        self.records.audio_per_connection.append(0)
        for count, event in list(self._waiters):
            if self.records.connections >= count:
                event.set()
                self._waiters.remove((count, event))
        conv = FakeConversation(self, ws)
        self._live.add(conv)
        try:
            await conv.run()
        finally:
            self._live.discard(conv)
