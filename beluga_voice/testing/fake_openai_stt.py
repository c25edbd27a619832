"""``FakeOpenAITranscription``: an offline stand-in for OpenAI realtime transcription.

It serves ``/v1/realtime?intent=transcription`` on 127.0.0.1 as OpenAI's realtime
transcription guide and GA event reference describe it (docs/services/openai-stt.md):
``Authorization: Bearer`` (401 with OpenAI's JSON error otherwise), ``session.created``,
``session.update`` answered by ``session.updated``, ``input_audio_buffer.append`` /
``commit`` / ``clear`` (an empty commit is refused with
``input_audio_buffer_commit_empty``), and for each committed utterance
``input_audio_buffer.committed``, one ``...input_audio_transcription.delta`` per word and
``...completed``.  The transcript of committed utterance *n* is ``transcripts[n]``
(cycling): deterministic whatever the audio.

Every client event it receives and every event it sends is validated against the
``openai`` SDK's realtime event unions (``records.violations`` /
``records.server_violations``, which should stay empty).  ``drop_after_ms[i]`` cuts
connection *i* (no close frame) once it received that much audio.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .fake_realtime.schema import check_client_event, check_server_event
from .loopback import LoopbackServer, quiet_logger

__all__ = ["FakeOpenAITranscription", "TranscriptionRecords"]

_log = quiet_logger("beluga_voice.testing.fake_openai_stt")
_RATE = 24000


@dataclass
class TranscriptionRecords:
    """What clients did, across all connections."""

    handshakes: int = 0
    connections: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    audio_bytes: int = 0
    commits: int = 0
    clears: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    server_violations: list[str] = field(default_factory=list)

    def types(self) -> list[str]:
        return [str(e.get("type")) for e in self.events]


class FakeOpenAITranscription(LoopbackServer):
    """See the module docstring.  ``api_key``, when set, is the only key accepted;
    ``reject_handshakes`` answers the next handshakes with these HTTP statuses."""

    def __init__(
        self,
        transcripts: Sequence[str] = ("Hello there.",),
        *,
        api_key: str | None = None,
        reject_handshakes: Sequence[int] = (),
        drop_after_ms: Sequence[float | None] = (),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port, logger=_log)
        self.transcripts = list(transcripts) or [""]
        self.api_key = api_key
        self.reject_handshakes = list(reject_handshakes)
        self.drop_after_ms = list(drop_after_ms)
        self.records = TranscriptionRecords()
        self.utterances = 0

    @property
    def base_url(self) -> str:
        """``ws://127.0.0.1:PORT/v1``: a client's ``base_url``."""
        return f"ws://{self.host}:{self.port}/v1"

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        self.records.handshakes += 1
        if self.reject_handshakes:
            status = self.reject_handshakes.pop(0)
            return connection.respond(HTTPStatus(status), f"injected HTTP {status}\n")
        path, _, query = request.path.partition("?")
        if path.rstrip("/") != "/v1/realtime" or "intent=transcription" not in query:
            return connection.respond(
                HTTPStatus.NOT_FOUND, "expected /v1/realtime?intent=transcription\n"
            )
        auth = request.headers.get("Authorization", "")
        key = auth[len("Bearer ") :] if auth.startswith("Bearer ") else ""
        if not key or (self.api_key is not None and key != self.api_key):
            shown = f"{key[:3]}***{key[-4:]}" if len(key) > 8 else "***"
            body = {
                "error": {
                    "message": f"Incorrect API key provided: {shown}.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "invalid_api_key",
                }
            }
            response = connection.respond(HTTPStatus.UNAUTHORIZED, json.dumps(body))
            response.headers["Content-Type"] = "application/json"
            return response
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        index = self.records.connections
        self.records.connections += 1
        drop = self.drop_after_ms[index] if index < len(self.drop_after_ms) else None
        try:
            await _Session(self, ws, drop).run()
        except ConnectionClosed:
            pass
        finally:
            self.notify()


class _Session:
    def __init__(self, fake: FakeOpenAITranscription, ws: ServerConnection, drop: float | None):
        self.fake = fake
        self.ws = ws
        self.drop_bytes = None if drop is None else int(drop / 1000 * _RATE) * 2
        self.received = 0
        self.buffer = 0
        self.events = 0
        self.items = 0
        self.previous: str | None = None
        self.session: dict[str, Any] = {
            "type": "transcription",
            "audio": {"input": {"format": {"type": "audio/pcm", "rate": _RATE}}},
        }

    def _id(self, prefix: str) -> str:
        self.events += 1
        return f"{prefix}_{self.events:06d}"

    async def run(self) -> None:
        await self._send({"type": "session.created", "session": self.session})
        async for message in self.ws:
            if isinstance(message, bytes):
                await self._error("invalid_request_error", None, "binary frames are not events")
                continue
            try:
                event = json.loads(message)
            except ValueError:
                await self._error("invalid_request_error", None, "not JSON")
                continue
            self.fake.records.events.append(event)
            problem = check_client_event(event, "openai")
            if problem:
                self.fake.records.violations.append(problem)
            await self._on(event)
            self.fake.notify()

    async def _on(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "session.update":
            session = event.get("session")
            if isinstance(session, dict):
                self.fake.records.sessions.append(session)
                self.session = session
            await self._send({"type": "session.updated", "session": self.session})
        elif kind == "input_audio_buffer.append":
            try:
                pcm = base64.b64decode(str(event.get("audio", "")), validate=True)
            except (binascii.Error, ValueError):
                await self._error("invalid_request_error", "invalid_value", "bad base64 audio")
                return
            self.received += len(pcm)
            self.buffer += len(pcm)
            self.fake.records.audio_bytes += len(pcm)
            if self.drop_bytes is not None and self.received >= self.drop_bytes:
                self.ws.transport.abort()
                raise ConnectionClosed(None, None)
        elif kind == "input_audio_buffer.commit":
            await self._commit()
        elif kind == "input_audio_buffer.clear":
            self.buffer = 0
            self.fake.records.clears += 1
            await self._send({"type": "input_audio_buffer.cleared"})
        else:
            await self._error("invalid_request_error", "unknown_event", f"unknown {kind}")

    async def _commit(self) -> None:
        if self.buffer < 2 * _RATE // 10:  # the service wants at least 100 ms
            await self._error(
                "invalid_request_error",
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer too small.",
            )
            return
        self.fake.records.commits += 1
        seconds, self.buffer = self.buffer / (2 * _RATE), 0
        self.items += 1
        item = f"item_{id(self) % 10000:04d}{self.items:04d}"
        await self._send(
            {
                "type": "input_audio_buffer.committed",
                "previous_item_id": self.previous,
                "item_id": item,
            }
        )
        self.previous = item
        text = self.fake.transcripts[self.fake.utterances % len(self.fake.transcripts)]
        self.fake.utterances += 1
        words = text.split()
        for i, word in enumerate(words):
            await self._send(
                {
                    "type": "conversation.item.input_audio_transcription.delta",
                    "item_id": item,
                    "content_index": 0,
                    "delta": word if i == 0 else f" {word}",
                }
            )
        await self._send(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item,
                "content_index": 0,
                "transcript": text,
                "usage": {"type": "duration", "seconds": round(seconds, 3)},
            }
        )

    async def _error(self, kind: str, code: str | None, message: str) -> None:
        error = {"type": kind, "code": code, "message": message, "param": None, "event_id": None}
        await self._send({"type": "error", "error": error})

    async def _send(self, event: dict[str, Any]) -> None:
        event = {"event_id": self._id("event"), **event}
        problem = check_server_event(event, "openai")
        if problem:
            self.fake.records.server_violations.append(problem)
        self.fake.records.sent.append(event)
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(json.dumps(event))
