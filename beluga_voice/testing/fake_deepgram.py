"""``FakeDeepgramServer``: an offline stand-in for Deepgram live transcription.

It serves ``/v1/listen`` on 127.0.0.1 the way Deepgram's streaming documents describe
it (docs/services/deepgram.md lists them): ``Authorization: Token <key>`` (401 with
Deepgram's JSON error otherwise), binary PCM16 in, ``Results`` out, ``Finalize``,
``KeepAlive``, ``CloseStream`` (a final ``Metadata``, then close), the 10 s idle close
(``1011 NET-0001``; ``idle_timeout`` shortens it), ``SpeechStarted`` with
``vad_events``, and energy endpointing: ``endpointing`` ms of quiet after speech closes
the segment with ``speech_final``.

It "recognises" a script: utterance *n* (which starts with audio louder than
``speech_rms``) is ``transcripts[n]`` (cycling).  Its words are
revealed as audio arrives (one per ``word_ms``) in interim results, finalized segments
close every ``segment_ms`` of audio (if set), and ``Finalize`` gives the rest of the
utterance's words, so the final transcript is the script's whatever the audio.

Every message it sends is validated against the ``deepgram-sdk`` types and every
control message it receives against the SDK's request types; failures are recorded in
``records.server_violations`` / ``records.violations`` (both should stay empty).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

import anyio
import numpy as np
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .loopback import LoopbackServer, quiet_logger

__all__ = ["DeepgramRecords", "FakeDeepgramServer"]


class _HideTokens(logging.Filter):
    """Deepgram's scheme is ``Token <key>``: the fake logs handshakes without it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = re.sub(r"(?i)(token\s+)\S+", r"\1***", record.getMessage())
        record.args = None
        return True


_log = quiet_logger("beluga_voice.testing.fake_deepgram")
if not any(isinstance(f, _HideTokens) for f in _log.filters):
    _log.addFilter(_HideTokens())

try:
    from deepgram.listen.v1.types import (
        ListenV1CloseStream,
        ListenV1Finalize,
        ListenV1KeepAlive,
        ListenV1Metadata,
        ListenV1Results,
        ListenV1SpeechStarted,
        ListenV1UtteranceEnd,
    )
except ImportError:  # pragma: no cover - the SDK is installed with the test extra
    SDK_AVAILABLE = False
    _SERVER: dict[str, Any] = {}
    _CLIENT: dict[str, Any] = {}
else:
    SDK_AVAILABLE = True
    _SERVER = {
        "Results": ListenV1Results,
        "Metadata": ListenV1Metadata,
        "SpeechStarted": ListenV1SpeechStarted,
        "UtteranceEnd": ListenV1UtteranceEnd,
    }
    _CLIENT = {
        "Finalize": ListenV1Finalize,
        "KeepAlive": ListenV1KeepAlive,
        "CloseStream": ListenV1CloseStream,
    }

_NET_0001 = (
    "Deepgram did not receive audio data or a text message within the timeout window. "
    "See https://dpgr.am/net0001"
)


@dataclass
class DeepgramRecords:
    """What clients did, across all connections."""

    handshakes: int = 0
    connections: int = 0
    queries: list[dict[str, list[str]]] = field(default_factory=list)
    audio_bytes: int = 0
    controls: list[str] = field(default_factory=list)
    """Control message types received, in order (Finalize, KeepAlive, CloseStream)."""
    sent: list[dict[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    server_violations: list[str] = field(default_factory=list)
    idle_closes: int = 0


class FakeDeepgramServer(LoopbackServer):
    """See the module docstring.  ``api_key``, when set, is the only key accepted;
    ``reject_handshakes`` answers the next handshakes with these HTTP statuses;
    ``drop_after_ms[i]`` cuts connection *i* (no close frame) once it received that much
    audio."""

    def __init__(
        self,
        transcripts: Sequence[str] = ("hello there",),
        *,
        api_key: str | None = None,
        word_ms: float = 250.0,
        interim_ms: float = 200.0,
        segment_ms: float | None = None,
        speech_rms: float = 500.0,
        idle_timeout: float = 10.0,
        reject_handshakes: Sequence[int] = (),
        drop_after_ms: Sequence[float | None] = (),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port, logger=_log)
        self.transcripts = list(transcripts) or [""]
        self.api_key = api_key
        self.word_ms = word_ms
        self.interim_ms = interim_ms
        self.segment_ms = segment_ms
        self.speech_rms = speech_rms
        self.idle_timeout = idle_timeout
        self.reject_handshakes = list(reject_handshakes)
        self.drop_after_ms = list(drop_after_ms)
        self.records = DeepgramRecords()
        self.utterances = 0
        self._live: set[ServerConnection] = set()

    @property
    def url(self) -> str:
        """The listen endpoint: a client's ``base_url``."""
        return f"ws://{self.host}:{self.port}/v1/listen"

    async def drop_all(self) -> None:
        """Cut every live connection without a close frame."""
        for ws in list(self._live):
            ws.transport.abort()

    def next_transcript(self) -> list[str]:
        words = self.transcripts[self.utterances % len(self.transcripts)].split()
        self.utterances += 1
        return words

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        self.records.handshakes += 1
        if self.reject_handshakes:
            status = self.reject_handshakes.pop(0)
            return connection.respond(HTTPStatus(status), f"injected HTTP {status}\n")
        path, _, query = request.path.partition("?")
        if path.rstrip("/") != "/v1/listen":
            return connection.respond(HTTPStatus.NOT_FOUND, "expected /v1/listen\n")
        auth = request.headers.get("Authorization", "")
        key = auth[len("Token ") :] if auth.startswith("Token ") else ""
        if not key or (self.api_key is not None and key != self.api_key):
            request_id = str(uuid.uuid4())
            body = {
                "err_code": "INVALID_AUTH",
                "err_msg": "Invalid credentials.",
                "request_id": request_id,
            }
            response = connection.respond(HTTPStatus.UNAUTHORIZED, json.dumps(body))
            response.headers["Content-Type"] = "application/json"
            # Deepgram's changelog of 2022-11-08: every streaming handshake names its
            # request in dg-request-id, and a refused one repeats its error in dg-error.
            response.headers["dg-request-id"] = request_id
            response.headers["dg-error"] = json.dumps(body)
            return response
        self.records.queries.append(parse_qs(query))
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        index = self.records.connections
        self.records.connections += 1
        self._live.add(ws)
        drop = self.drop_after_ms[index] if index < len(self.drop_after_ms) else None
        try:
            await _Listen(self, ws, self.records.queries[-1], drop).run()
        except ConnectionClosed:
            pass
        finally:
            self._live.discard(ws)
            self.notify()


class _Listen:
    """One connection: the timeline, the utterance, the segment."""

    def __init__(
        self,
        fake: FakeDeepgramServer,
        ws: ServerConnection,
        query: dict[str, list[str]],
        drop_ms: float | None,
    ) -> None:
        self.fake = fake
        self.ws = ws
        self.rate = int(query.get("sample_rate", ["16000"])[0])
        self.interim = query.get("interim_results", ["false"])[0] == "true"
        self.vad_events = query.get("vad_events", ["false"])[0] == "true"
        endpointing = query.get("endpointing", ["10"])[0]
        self.endpointing_s = None if endpointing == "false" else int(endpointing) / 1000.0
        self.model = query.get("model", ["nova-3"])[0]
        self.drop_s = None if drop_ms is None else drop_ms / 1000.0
        self.request_id = str(uuid.uuid4())
        self.time = 0.0
        self.seg_start = 0.0
        self.last_interim = 0.0
        self.words: list[str] | None = None
        self.utt_start = 0.0
        self.final_words = 0
        self.in_speech = False
        self.quiet_s = 0.0

    async def run(self) -> None:
        while True:
            with anyio.move_on_after(self.fake.idle_timeout) as idle:
                message = await self.ws.recv()
            if idle.cancelled_caught:
                self.fake.records.idle_closes += 1
                await self.ws.close(1011, _NET_0001[:120])
                return
            if isinstance(message, bytes):
                await self._audio(message)
            elif not await self._control(message):
                return
            self.fake.notify()

    async def _control(self, text: str) -> bool:
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        kind = data.get("type") if isinstance(data, dict) else None
        if kind not in _CLIENT_TYPES:
            self.fake.records.violations.append(f"unknown control message: {text[:80]}")
            await self.ws.close(1008, "DATA-0000")
            return False
        self.fake.records.controls.append(kind)
        model = _CLIENT.get(kind)
        if model is not None:
            try:
                model.model_validate(data)
            except Exception as exc:
                self.fake.records.violations.append(f"{kind}: {exc}")
        if kind == "Finalize":
            await self._close_segment(from_finalize=True)
        elif kind == "CloseStream":
            await self._close_segment(from_finalize=True)
            await self._send(
                {
                    "type": "Metadata",
                    "transaction_key": "deprecated",
                    "request_id": self.request_id,
                    "sha256": "0" * 64,
                    "created": "2026-11-28T00:00:00.000Z",
                    "duration": round(self.time, 3),
                    "channels": 1,
                }
            )
            await self.ws.close(1000)
            return False
        return True

    async def _audio(self, pcm: bytes) -> None:
        self.fake.records.audio_bytes += len(pcm)
        seconds = len(pcm) / (2 * self.rate)
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
        rms = float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0
        if self.words is None and rms >= self.fake.speech_rms:
            self.words = self.fake.next_transcript()  # an utterance starts with speech
            self.utt_start = self.time
        self.time += seconds
        if self.drop_s is not None and self.time >= self.drop_s:
            self.ws.transport.abort()
            raise ConnectionClosed(None, None)
        if rms >= self.fake.speech_rms:
            if not self.in_speech and self.vad_events:
                await self._send({"type": "SpeechStarted", "channel": [0], "timestamp": self.time})
            self.in_speech, self.quiet_s = True, 0.0
        elif self.in_speech:
            self.quiet_s += seconds
            if self.endpointing_s is not None and self.quiet_s >= self.endpointing_s:
                self.in_speech = False
                await self._close_segment(speech_final=True)
                return
        segment = self.fake.segment_ms
        if segment is not None and self.time - self.seg_start >= segment / 1000.0:
            await self._close_segment()
        elif self.interim and self.time - self.last_interim >= self.fake.interim_ms / 1000.0:
            self.last_interim = self.time
            await self._results(self._revealed()[self.final_words :], is_final=False)

    def _revealed(self) -> list[str]:
        words = self.words or []
        count = int((self.time - self.utt_start) * 1000.0 // self.fake.word_ms) + 1
        return words[: max(0, min(len(words), count))]

    async def _close_segment(
        self, *, from_finalize: bool = False, speech_final: bool = False
    ) -> None:
        """Finalize the audio since the segment began; the utterance ends with it unless
        this is a periodic segment."""
        ends = from_finalize or speech_final
        if self.time <= self.seg_start:
            if ends:  # nothing buffered: Deepgram sends nothing either
                self.words, self.final_words = None, 0
            return
        words = (self.words or []) if ends else self._revealed()
        await self._results(
            words[self.final_words :],
            is_final=True,
            speech_final=speech_final,
            from_finalize=from_finalize,
        )
        self.final_words = len(words)
        self.seg_start = self.last_interim = self.time
        if ends:
            self.words, self.final_words = None, 0

    async def _results(self, words: list[str], **flags: bool) -> None:
        start, duration = self.seg_start, max(0.0, self.time - self.seg_start)
        step = duration / max(1, len(words))
        message: dict[str, Any] = {
            "type": "Results",
            "channel_index": [0, 1],
            "duration": round(duration, 4),
            "start": round(start, 4),
            "is_final": flags.get("is_final", False),
            "speech_final": flags.get("speech_final", False),
            "channel": {
                "alternatives": [
                    {
                        "transcript": " ".join(words),
                        "confidence": 0.99 if words else 0.0,
                        "words": [
                            {
                                "word": w.lower().strip(".,?!"),
                                "start": round(start + i * step, 4),
                                "end": round(start + (i + 1) * step, 4),
                                "confidence": 0.99,
                                "punctuated_word": w,
                            }
                            for i, w in enumerate(words)
                        ],
                    }
                ]
            },
            "metadata": {
                "request_id": self.request_id,
                "model_info": {"name": self.model, "version": "2026-11-28", "arch": self.model},
                "model_uuid": "00000000-0000-0000-0000-000000000003",
            },
            "from_finalize": flags.get("from_finalize", False),
        }
        await self._send(message)

    async def _send(self, message: dict[str, Any]) -> None:
        model = _SERVER.get(message["type"])
        if model is not None:
            try:
                model.model_validate(message)
            except Exception as exc:
                self.fake.records.server_violations.append(f"{message['type']}: {exc}")
        self.fake.records.sent.append(message)
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(json.dumps(message))


_CLIENT_TYPES = frozenset({"Finalize", "KeepAlive", "CloseStream"})
