"""``FakeLiveServer``: an offline stand-in for OpenAI GPT-Live's primary WebSocket.

Written from OpenAI's GPT-Live documents (the voice WebSockets guide, the Live event
reference, the delegation guide) and checked against the official SDK's
``openai.types.live`` models, not from our client.  It listens on 127.0.0.1 (port 0 by
default), accepts ``/v1/live/sessions`` with no query string and a bearer token, wants
``session.start`` first and answers ``session.started``; it hears user audio with a
plain energy detector and answers each user turn with the next script entry, streaming
digital silence around its speech as a full-duplex model does; it delegates, mutes,
reports usage and closes with ``session.closed`` carrying the final usage::

    async with FakeLiveServer(script=[Reply(tone(0.5), "Hi!")]) as fake:
        provider = new_provider("openai_live", S2SConfig(api_key="test"),
                                with_provider_specific(base_url=fake.url))

The official SDK connects to it too: ``AsyncOpenAI(websocket_base_url=fake.base_url)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from ..loopback import LoopbackServer, quiet_logger
from .conversation import LiveConversation
from .script import Reply, ScriptEntry

__all__ = ["FakeLiveServer", "Records"]

_log = quiet_logger("beluga_voice.testing.fake_live")


@dataclass
class Records:
    """Everything clients did, across all connections."""

    handshakes: int = 0
    connections: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    """Client events the SDK's models reject (should stay empty)."""
    server_violations: list[str] = field(default_factory=list)
    """Events this fake sent that the SDK's models reject (should stay empty)."""
    starts: list[dict[str, Any]] = field(default_factory=list)
    audio_bytes: int = 0
    appends: list[dict[str, Any]] = field(default_factory=list)
    """Context appends (instructions, thinking, commentary) in arrival order."""
    function_outputs: list[tuple[str, str]] = field(default_factory=list)
    mutes: list[bool] = field(default_factory=list)
    closes: int = 0

    def types(self) -> list[str]:
        return [str(e.get("type")) for e in self.events]


class FakeLiveServer(LoopbackServer):
    """See the module docstring.

    ``script`` entries answer successive user turns (cycling); ``user_transcripts`` are
    what successive user turns "said".  ``models`` are the model ids accepted (others get
    ``model_not_found``).  ``trailing_silence_ms`` is the silence streamed after each
    utterance.  ``expire_after_turns`` ends the session with ``reason: "expired"`` after
    that many answered turns.  ``reject_status`` answers every handshake with that HTTP
    status.  ``api_key``, when set, is the only bearer token accepted.
    """

    def __init__(
        self,
        *,
        script: Sequence[ScriptEntry] = (),
        user_transcripts: Sequence[str] = ("Hello there.",),
        api_key: str | None = None,
        models: Sequence[str] = ("gpt-live-1", "gpt-live-1.1"),
        chunk_ms: int = 100,
        trailing_silence_ms: int = 700,
        speech_rms: float = 500.0,
        expire_after_turns: int | None = None,
        reject_status: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.script: list[ScriptEntry] = list(script) or [Reply()]
        self.user_transcripts = list(user_transcripts) or ["Hello there."]
        self.api_key = api_key
        self.models = tuple(models)
        self.chunk_ms = chunk_ms
        self.trailing_silence_ms = trailing_silence_ms
        self.speech_rms = speech_rms
        self.expire_after_turns = expire_after_turns
        self.reject_status = reject_status
        super().__init__(host=host, port=port, logger=_log)
        self.records = Records()
        self.turns = 0

    @property
    def base_url(self) -> str:
        """``ws://127.0.0.1:PORT/v1``: the SDK's ``websocket_base_url``."""
        return f"ws://{self.host}:{self.port}/v1"

    @property
    def url(self) -> str:
        """The sessions endpoint (the provider's ``base_url``)."""
        return self.base_url + "/live/sessions"

    def next_entry(self) -> ScriptEntry:
        entry = self.script[self.turns % len(self.script)]
        self.turns += 1
        return entry

    def user_transcript(self, turn: int) -> str:
        return self.user_transcripts[turn % len(self.user_transcripts)]

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        self.records.handshakes += 1
        if self.reject_status is not None:
            status = HTTPStatus(self.reject_status)
            return connection.respond(status, f"injected HTTP {status.value}\n")
        path, _, query = request.path.partition("?")
        if path.rstrip("/") != "/v1/live/sessions":
            return connection.respond(HTTPStatus.NOT_FOUND, "expected /v1/live/sessions\n")
        if query:
            return connection.respond(HTTPStatus.BAD_REQUEST, "Live takes no query parameters\n")
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or (
            self.api_key is not None and auth != f"Bearer {self.api_key}"
        ):
            return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid api key\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        self.records.connections += 1
        await LiveConversation(self, ws).run()
