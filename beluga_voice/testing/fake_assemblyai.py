"""``FakeAssemblyAIServer``: an offline stand-in for AssemblyAI Universal-Streaming (v3).

It serves ``/v3/ws`` on 127.0.0.1 the way AssemblyAI's streaming documents describe it
(docs/services/assemblyai.md lists them): the key raw in ``Authorization`` or a temporary
``token`` query parameter (anything else: the session opens and closes at once with
``4001 Not Authorized``), the connection parameters in the query (a bad ``sample_rate``
closes with 4000), ``Begin`` first, binary PCM16 in chunks of 50 to 1000 ms (any other
closes with ``3007``), ``Turn`` messages out, ``ForceEndpoint``, ``KeepAlive``,
``UpdateConfiguration``, ``Terminate`` (the open turn ends, then ``Termination``, then
close 1000), and its own endpointing: ``max_turn_silence`` ms of quiet after speech end
the turn.

It "recognises" a script: turn *n* (which starts with audio louder than ``speech_rms``)
is ``transcripts[n]`` (cycling), revealed one word per ``word_ms`` of audio in partial
turns; the end of a turn gives all of its words (``end_of_turn``), then, with
``format_turns``, the formatted text (``turn_is_formatted``).

Every message it sends is checked against the field names and types of the SDK's v3
models (``assemblyai/streaming/v3/models.py``: ``BeginEvent``, ``TurnEvent``, ``Word``,
``TerminationEvent``), and every message it receives against the client messages
(``TerminateSession``, ``ForceEndpoint``, ``KeepAlive``, ``UpdateConfiguration``);
failures go to ``records.server_violations`` / ``records.violations`` (both should stay
empty).  The SDK is not a dependency: the field lists below are written from its source.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import numpy as np
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .loopback import LoopbackServer, quiet_logger

__all__ = ["AssemblyAIRecords", "FakeAssemblyAIServer"]


class _HideKeys(logging.Filter):
    """AssemblyAI's key has no scheme (``Authorization: <key>``) and a temporary token
    rides in the query: the fake logs handshakes without either."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = re.sub(r"(?i)(authorization:\s*)\S+", r"\1***", record.getMessage())
        record.msg = re.sub(r"([?&]token=)[^&\s]+", r"\1***", text)
        record.args = None
        return True


_log = quiet_logger("beluga_voice.testing.fake_assemblyai")
if not any(isinstance(f, _HideKeys) for f in _log.filters):
    _log.addFilter(_HideKeys())

_SERVER_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "Begin": {"type": (str,), "id": (str,), "expires_at": (int,)},
    "Turn": {
        "type": (str,),
        "turn_order": (int,),
        "turn_is_formatted": (bool,),
        "end_of_turn": (bool,),
        "transcript": (str,),
        "end_of_turn_confidence": (float, int),
        "words": (list,),
    },
    "Termination": {
        "type": (str,),
        "audio_duration_seconds": (int,),
        "session_duration_seconds": (int,),
    },
}
"""The required fields of the SDK's server events (``expires_at`` is a datetime there,
which pydantic reads from unix seconds)."""
_WORD_FIELDS: dict[str, tuple[type, ...]] = {
    "start": (int,),
    "end": (int,),
    "confidence": (float, int),
    "text": (str,),
    "word_is_final": (bool,),
}
_SESSION_PARAMETERS = frozenset(
    {
        "end_of_turn_confidence_threshold",
        "min_end_of_turn_silence_when_confident",
        "min_turn_silence",
        "max_turn_silence",
        "vad_threshold",
        "format_turns",
        "keyterms_prompt",
        "filter_profanity",
        "prompt",
        "agent_context",
        "interruption_delay",
        "turn_left_pad_ms",
        "language_codes",
    }
)
"""``StreamingSessionParameters``: what ``UpdateConfiguration`` may carry."""
_CONNECTION_PARAMETERS = _SESSION_PARAMETERS | {
    "sample_rate",
    "encoding",
    "speech_model",
    "language_code",
    "language_detection",
    "domain",
    "inactivity_timeout",
    "speaker_labels",
    "max_speakers",
    "token",
}
"""The ``StreamingParameters`` this fake understands (plus the documented ``token``)."""
_CLIENT_TYPES = frozenset({"Terminate", "ForceEndpoint", "KeepAlive", "UpdateConfiguration"})


@dataclass
class AssemblyAIRecords:
    """What clients did, across all connections."""

    handshakes: int = 0
    connections: int = 0
    queries: list[dict[str, list[str]]] = field(default_factory=list)
    auth_failures: int = 0
    audio_bytes: int = 0
    chunk_ms: list[float] = field(default_factory=list)
    """The duration of every audio chunk received, in order."""
    audio: bytearray = field(default_factory=bytearray)
    controls: list[str] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    server_violations: list[str] = field(default_factory=list)


class FakeAssemblyAIServer(LoopbackServer):
    """See the module docstring.  ``api_key`` is the only key accepted (any non-empty
    one when None); ``tokens`` are accepted temporary tokens."""

    def __init__(
        self,
        transcripts: Sequence[str] = ("hello there",),
        *,
        api_key: str | None = None,
        tokens: Sequence[str] = (),
        word_ms: float = 250.0,
        speech_rms: float = 500.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port, logger=_log)
        self.transcripts = list(transcripts) or [""]
        self.api_key = api_key
        self.tokens = set(tokens)
        self.word_ms = word_ms
        self.speech_rms = speech_rms
        self.records = AssemblyAIRecords()
        self.turns = 0
        self._authorized: list[bool] = []

    @property
    def url(self) -> str:
        """The streaming endpoint: a client's ``base_url``."""
        return f"ws://{self.host}:{self.port}/v3/ws"

    def next_transcript(self) -> list[str]:
        words = self.transcripts[self.turns % len(self.transcripts)].split()
        self.turns += 1
        return words

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        self.records.handshakes += 1
        path, _, query = request.path.partition("?")
        if path.rstrip("/") != "/v3/ws":
            return connection.respond(404, "expected /v3/ws\n")
        params = parse_qs(query)
        token = params.pop("token", [""])[0]
        key = request.headers.get("Authorization", "")
        good_key = bool(key) and (self.api_key is None or key == self.api_key)
        self._authorized.append(good_key or token in self.tokens)
        for name in params:
            if name not in _CONNECTION_PARAMETERS:
                self.records.violations.append(f"unknown query parameter {name}")
        if params.get("encoding", ["pcm_s16le"])[0] != "pcm_s16le":
            self.records.violations.append("encoding is not pcm_s16le")
        if "speech_model" not in params:
            self.records.violations.append("speech_model is required")
        self.records.queries.append(params)
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        index = self.records.connections
        self.records.connections += 1
        try:
            if not self._authorized[index]:
                self.records.auth_failures += 1
                await ws.close(4001, "Not Authorized")
                return
            await _Session(self, ws, self.records.queries[index]).run()
        except ConnectionClosed:
            pass
        finally:
            self.notify()


class _Session:
    """One connection: the audio received, the open turn."""

    def __init__(
        self, fake: FakeAssemblyAIServer, ws: ServerConnection, query: dict[str, list[str]]
    ) -> None:
        self.fake = fake
        self.ws = ws
        self.query = query
        self.started = time.monotonic()
        self.time = 0.0
        self.turn_order = 0
        self.words: list[str] | None = None
        self.turn_start = 0.0
        self.shown = 0
        self.quiet_s = 0.0
        rate = query.get("sample_rate", [""])[0]
        self.rate = int(rate) if rate.isdigit() else 0
        self.formatted = query.get("format_turns", ["false"])[0] == "true"
        self.max_silence_s = int(query.get("max_turn_silence", ["1280"])[0]) / 1000.0

    async def run(self) -> None:
        if self.rate <= 0:
            await self.ws.close(4000, "Sample rate must be a positive integer")
            return
        await self._send(
            {"type": "Begin", "id": str(uuid.uuid4()), "expires_at": int(time.time()) + 10800}
        )
        async for message in self.ws:
            if isinstance(message, bytes):
                if not await self._audio(message):
                    return
            elif not await self._control(message):
                return
            self.fake.notify()

    async def _control(self, text: str) -> bool:
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        kind = data.get("type") if isinstance(data, dict) else None
        if not isinstance(data, dict) or kind not in _CLIENT_TYPES:
            self.fake.records.violations.append(f"unknown message: {text[:80]}")
            await self.ws.close(4101, "Endpoint received a message with an invalid schema")
            return False
        self.fake.records.controls.append(kind)
        extra = set(data) - {"type"}
        if kind == "UpdateConfiguration":
            extra -= _SESSION_PARAMETERS
            if "format_turns" in data:
                self.formatted = data["format_turns"] is True
            if "max_turn_silence" in data:
                self.max_silence_s = int(data["max_turn_silence"]) / 1000.0
        if extra:
            self.fake.records.violations.append(f"{kind}: unexpected fields {sorted(extra)}")
        if kind == "ForceEndpoint":
            await self._end_turn()
        elif kind == "Terminate":
            await self._end_turn()
            await self._send(
                {
                    "type": "Termination",
                    "audio_duration_seconds": int(self.time),
                    "session_duration_seconds": int(time.monotonic() - self.started),
                }
            )
            await self.ws.close(1000)
            return False
        return True

    async def _audio(self, pcm: bytes) -> bool:
        records = self.fake.records
        seconds = len(pcm) / (2 * self.rate)
        records.chunk_ms.append(1000.0 * seconds)
        records.audio_bytes += len(pcm)
        records.audio += pcm
        if len(pcm) % 2 or not 0.05 - 1e-9 <= seconds <= 1.0 + 1e-9:
            records.violations.append(f"a chunk of {1000.0 * seconds:.1f} ms")
            await self.ws.close(3007, "Input duration violation: chunks must be 50-1000 ms")
            return False
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        loud = float(np.sqrt(np.mean(samples**2))) >= self.fake.speech_rms
        if self.words is None and loud:
            self.words = self.fake.next_transcript()  # a turn starts with speech
            self.turn_start = self.time
        self.time += seconds
        if self.words is None:
            return True
        self.quiet_s = 0.0 if loud else self.quiet_s + seconds
        if self.quiet_s >= self.max_silence_s:
            await self._end_turn()
            return True
        count = int((self.time - self.turn_start) * 1000.0 // self.fake.word_ms) + 1
        shown = max(0, min(len(self.words), count))
        if shown != self.shown:
            self.shown = shown
            await self._turn(self.words[:shown], end=False, formatted=False)
        return True

    async def _end_turn(self) -> None:
        """Close the open turn with all its words (nothing open: nothing sent)."""
        if self.words is None:
            return
        await self._turn(self.words, end=True, formatted=False)
        if self.formatted:
            await self._turn(self.words, end=True, formatted=True)
        self.words, self.shown, self.quiet_s = None, 0, 0.0
        self.turn_order += 1

    async def _turn(self, words: list[str], *, end: bool, formatted: bool) -> None:
        span = max(1.0, 1000.0 * (self.time - self.turn_start)) / max(1, len(words))
        start = 1000.0 * self.turn_start
        text = " ".join(words)
        if formatted and text:
            text = text[0].upper() + text[1:] + "."
        await self._send(
            {
                "type": "Turn",
                "turn_order": self.turn_order,
                "turn_is_formatted": formatted,
                "end_of_turn": end,
                "transcript": text,
                "utterance": text if end else "",
                "end_of_turn_confidence": 0.9 if end else 0.1,
                "words": [
                    {
                        "start": math.floor(start + i * span),
                        "end": math.floor(start + (i + 1) * span),
                        "confidence": 0.99,
                        "text": word,
                        "word_is_final": end or i < len(words) - 1,
                    }
                    for i, word in enumerate(words)
                ],
            }
        )

    async def _send(self, message: dict[str, Any]) -> None:
        problems = _check_fields(message, _SERVER_FIELDS[message["type"]])
        for word in message.get("words", []):
            problems += _check_fields(word, _WORD_FIELDS)
        self.fake.records.server_violations += [f"{message['type']}: {p}" for p in problems]
        self.fake.records.sent.append(message)
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(json.dumps(message))


def _check_fields(message: dict[str, Any], fields: dict[str, tuple[type, ...]]) -> list[str]:
    problems = [f"no {name}" for name in fields if name not in message]
    problems += [
        f"{name} is {type(value).__name__}"
        for name, value in message.items()
        if name in fields and not isinstance(value, fields[name])
    ]
    return problems
