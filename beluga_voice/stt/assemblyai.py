"""AssemblyAI Universal-Streaming (v3, ``wss://streaming.assemblyai.com/v3/ws``).

Written from AssemblyAI's streaming documents and its Python SDK's v3 models (see
docs/services/assemblyai.md for the list).  The session's settings are query parameters;
the API key goes raw in the ``Authorization`` header (a temporary token instead goes in
the ``token`` query parameter).  Raw PCM16 goes up as binary frames, which the service
accepts only in chunks of 50 to 1000 ms: our pipeline sends 20 ms frames, so
:class:`ChunkBatcher` gathers them, and pads the last one of an utterance with silence up
to 50 ms when it flushes.  ``Turn`` messages come down: while a turn is open they carry
its transcript so far (our interim results); ``end_of_turn`` closes it, and with
``format_turns`` a second ``end_of_turn`` message follows with ``turn_is_formatted`` set,
the punctuated text.  **The final message of a turn is the one with ``end_of_turn`` and,
when ``format_turns`` is on, ``turn_is_formatted``.**

The service ends turns by itself too (its own endpointing), so one of our utterances may
span several of its turns: the core joins them.  Our turn end is ``ForceEndpoint``;
``Terminate`` says goodbye (the service answers ``Termination``).  Errors arrive as close
codes (``4001`` not authorized, ``3005``-``3009`` and ``40xx`` in the SDK's table), or as
an ``Error`` message.

:class:`AssemblyAICore` is the sans-I/O protocol; :class:`AssemblyAISTT` the engine, on
the shared :class:`~beluga_voice.stt.wire.WebSocketSTTStream`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlencode

from pydantic import SecretStr

from ..errors import ErrorCode, S2SError, code_from_ws_close
from ..secrets import redact, register_secret
from .base import AsyncSTTEngine, STTResult
from .wire import WebSocketSTTStream
from .wire_core import OpenUtterance, Outgoing, WireCore, WireOptions, parse_message

__all__ = ["AssemblyAICore", "AssemblyAISTT", "ChunkBatcher"]

log = logging.getLogger("beluga_voice.stt.assemblyai")

DEFAULT_URL = "wss://streaming.assemblyai.com/v3/ws"
MIN_CHUNK_MS = 50
MAX_CHUNK_MS = 1000
_FORCE_ENDPOINT = json.dumps({"type": "ForceEndpoint"})
_TERMINATE = json.dumps({"type": "Terminate"})
_KEEPALIVE = json.dumps({"type": "KeepAlive"})

_CLOSE_CODES: dict[int, ErrorCode] = {
    3005: ErrorCode.INTERNAL_ERROR,  # server error: reconnect
    3006: ErrorCode.INVALID_REQUEST,  # input validation error
    3007: ErrorCode.INVALID_AUDIO_FORMAT,  # a chunk outside 50-1000 ms
    3008: ErrorCode.STREAM_CLOSED,  # maximum session duration: reconnect
    3009: ErrorCode.RATE_LIMIT,  # too many concurrent sessions
    4000: ErrorCode.INVALID_CONFIG,  # bad sample rate
    4002: ErrorCode.QUOTA_EXCEEDED,  # insufficient funds
    4031: ErrorCode.STREAM_CLOSED,  # idle for too long: reconnect
    4100: ErrorCode.INVALID_REQUEST,
    4101: ErrorCode.INVALID_REQUEST,
    4102: ErrorCode.RATE_LIMIT,  # too many streams
}
"""AssemblyAI's own close codes (the SDK's ``StreamingErrorCodes``); the rest (4001 not
authorized, 4003, 4029, RFC 6455's) mean what they mean everywhere."""


class ChunkBatcher:
    """Gathers PCM16 into chunks the service accepts: at least ``MIN_CHUNK_MS`` and at
    most ``MAX_CHUNK_MS`` of audio, whole samples, in order.  :meth:`flush` sends what
    is left, padded with silence to the minimum (a shorter chunk closes the session with
    3007)."""

    def __init__(self, sample_rate: int) -> None:
        self.min_bytes = 2 * math.ceil(sample_rate * MIN_CHUNK_MS / 1000)
        self.max_bytes = 2 * (sample_rate * MAX_CHUNK_MS // 1000)
        self._buffer = bytearray()

    def __len__(self) -> int:
        return len(self._buffer)

    def add(self, pcm: bytes) -> list[bytes]:
        self._buffer += pcm
        chunks: list[bytes] = []
        while len(self._buffer) >= self.min_bytes:
            size = min(len(self._buffer), self.max_bytes) & ~1
            chunks.append(bytes(self._buffer[:size]))
            del self._buffer[:size]
        return chunks

    def flush(self) -> list[bytes]:
        if not self._buffer:
            return []
        chunk = bytes(self._buffer).ljust(self.min_bytes, b"\0")
        self._buffer.clear()
        return [chunk]

    def clear(self) -> None:
        self._buffer.clear()


class AssemblyAICore(WireCore):
    """The protocol and the state of one utterance.  ``query`` holds the connection
    parameters (see :class:`AssemblyAISTT`)."""

    service = "assemblyai"

    def __init__(
        self, credential: str, base_url: str, query: dict[str, Any], *, token: bool = False
    ) -> None:
        self._credential = credential
        self._token = token
        self._base_url = base_url
        self.query = query
        self.sample_rate = int(query["sample_rate"])
        self.formatted = query.get("format_turns") == "true"
        self.session_id: str | None = None
        """The ``Begin`` message's session id (what support asks for)."""
        self.terminated: dict[str, Any] | None = None
        self._batcher = ChunkBatcher(self.sample_rate)
        self._utt = OpenUtterance(self.sample_rate)
        self._open_turn: int | None = None
        self._ignore_through = -1
        """Turns up to this ``turn_order`` belong to a reset utterance."""
        self._waiting = 0
        """Finalized utterances whose final turn has not come yet."""

    def url(self) -> str:
        query = dict(self.query)
        if self._token:
            query["token"] = self._credential
        return f"{self._base_url}?{urlencode(query)}"

    def headers(self) -> dict[str, str]:
        return {} if self._token else {"Authorization": self._credential}

    def __repr__(self) -> str:
        return f"AssemblyAICore(base_url={self._base_url!r}, query={self.query!r})"

    # -- out --------------------------------------------------------------------------------------

    def audio(self, pcm: bytes) -> list[Outgoing]:
        self._utt.bytes += len(pcm)
        return list(self._batcher.add(pcm))

    def finalize(self) -> tuple[list[Outgoing], STTResult | None]:
        if self._utt.empty and not self._waiting:
            return [], STTResult("", final=True)
        if not self._waiting and self._utt.finals and not self._utt.interim:
            # Every turn of the utterance is closed: what follows was silence (still
            # batched, it goes out with the next audio).
            return [], self._utt.complete()
        self._waiting += 1
        return [*self._batcher.flush(), _FORCE_ENDPOINT], None

    def reset(self) -> list[Outgoing]:
        messages: list[Outgoing] = []
        if not self._waiting and self._open_turn is not None:
            # Close the reset utterance's turn and drop its final.
            self._ignore_through = self._open_turn
            messages.append(_FORCE_ENDPOINT)
        self._utt.clear()
        return messages

    def keepalive(self) -> list[Outgoing]:
        return [_KEEPALIVE]

    def closing(self) -> list[Outgoing]:
        return [*self._batcher.flush(), _TERMINATE]

    def reconnected(self) -> None:
        self._batcher.clear()
        self._waiting = 0
        self._ignore_through = -1
        self._utt.clear()

    def expire(self) -> STTResult:
        result = self._utt.overdue("assemblyai")
        log.warning("assemblyai: no end of turn in time; using the transcript so far")
        self._waiting = max(0, self._waiting - 1)
        return result

    def close_code(self, code: int | None) -> ErrorCode:
        if code is not None and code in _CLOSE_CODES:
            return _CLOSE_CODES[code]
        return code_from_ws_close(code)

    # -- in ---------------------------------------------------------------------------------------

    def receive(self, text: str) -> list[STTResult]:
        data = parse_message(text, "assemblyai")
        if data is None:
            return []
        kind = data.get("type")
        if kind == "Turn":
            return self._turn(data)
        if kind == "Begin":
            self.session_id = str(data.get("id"))
            log.debug("assemblyai: session %s", self.session_id)
        elif kind == "Termination":
            self.terminated = data
        elif kind == "Warning":
            log.warning("assemblyai: %s", redact(str(data.get("warning"))[:300]))
        elif kind == "Error" or (kind is None and "error" in data):
            number = data.get("error_code")
            code = self.close_code(number) if isinstance(number, int) else ErrorCode.STREAM_ERROR
            raise S2SError(
                "receive",
                code,
                f"assemblyai: {redact(str(data.get('error'))[:300])}",
                details={"code": str(number)},
            )
        return []

    def _turn(self, data: dict[str, Any]) -> list[STTResult]:
        order = data.get("turn_order")
        order = order if isinstance(order, int) and not isinstance(order, bool) else 0
        if order <= self._ignore_through:
            return []
        transcript = data.get("transcript")
        text = transcript.strip() if isinstance(transcript, str) else ""
        ended = data.get("end_of_turn") is True
        final = ended and (data.get("turn_is_formatted") is True or not self.formatted)
        self._utt.heard = True
        if not final:
            self._open_turn = order
            if not text or text == self._utt.interim:
                return []
            self._utt.interim = text
            return [self._utt.partial()]
        if text:
            self._utt.finals.append(text)
        self._utt.interim = ""
        self._open_turn = None
        if self._waiting:
            self._waiting -= 1
            return [self._utt.complete()]
        return [self._utt.partial()] if text else []


class AssemblyAISTT(AsyncSTTEngine):
    """AssemblyAI Universal-Streaming STT.  The key comes from ``api_key`` or
    ``ASSEMBLYAI_API_KEY`` (a :class:`~pydantic.SecretStr`, redacted everywhere); a
    temporary ``token`` (minted by your backend) may be given instead.

    ``speech_model``, ``format_turns``, ``end_of_turn_confidence_threshold``,
    ``min_turn_silence``, ``max_turn_silence`` (ms) and ``keyterms`` (sent as
    ``keyterms_prompt``) are AssemblyAI's connection parameters.  Turn ends are the
    caller's (``ForceEndpoint``); the service's own turn ends only split the transcript.
    ``connect_timeout``, ``finalize_timeout``, ``keepalive_s``, ``reconnects`` and
    ``replay_s`` tune the shell (:mod:`beluga_voice.stt.wire`).

    ``format_turns`` is off by default, as AssemblyAI advises for voice agents: the
    formatted message comes after the unformatted end of turn, so waiting for it adds
    latency; turn it on for punctuated, cased finals (captions, a TTS reading them).
    """

    name = "assemblyai"

    def __init__(
        self,
        *,
        api_key: SecretStr | str | None = None,
        token: SecretStr | str | None = None,
        speech_model: str = "universal-streaming-english",
        sample_rate: int = 16000,
        format_turns: bool = False,
        end_of_turn_confidence_threshold: float | None = None,
        min_turn_silence: int | None = None,
        max_turn_silence: int | None = None,
        keyterms: Sequence[str] = (),
        base_url: str = DEFAULT_URL,
        connect_timeout: float = 10.0,
        finalize_timeout: float = 3.0,
        keepalive_s: float | None = 4.0,
        reconnects: int = 2,
        replay_s: float = 30.0,
    ) -> None:
        secret = token if token is not None else api_key
        if secret is None:
            secret = os.environ.get("ASSEMBLYAI_API_KEY", "")
        value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        if not value:
            raise S2SError(
                "configure", ErrorCode.INVALID_CONFIG, "assemblyai needs ASSEMBLYAI_API_KEY"
            )
        if sample_rate <= 0:
            raise S2SError("configure", ErrorCode.INVALID_CONFIG, "assemblyai: bad sample rate")
        register_secret(value)
        self._secret = SecretStr(value)
        self._token = token is not None
        self.sample_rate = sample_rate
        self.base_url = base_url
        query: dict[str, Any] = {
            "sample_rate": sample_rate,
            "encoding": "pcm_s16le",
            "speech_model": speech_model,
            "format_turns": "true" if format_turns else "false",
        }
        for key, setting in (
            ("end_of_turn_confidence_threshold", end_of_turn_confidence_threshold),
            ("min_turn_silence", min_turn_silence),
            ("max_turn_silence", max_turn_silence),
        ):
            if setting is not None:
                query[key] = setting
        if keyterms:
            query["keyterms_prompt"] = json.dumps(list(keyterms))
        self.query = query
        self.wire = WireOptions(
            connect_timeout, finalize_timeout, keepalive_s, reconnects, replay_s
        )

    def __repr__(self) -> str:
        return (
            f"AssemblyAISTT(speech_model={self.query['speech_model']!r}, "
            f"base_url={self.base_url!r})"
        )

    def new_core(self) -> AssemblyAICore:
        return AssemblyAICore(
            self._secret.get_secret_value(), self.base_url, dict(self.query), token=self._token
        )

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[WebSocketSTTStream]:
        stream = WebSocketSTTStream(self.new_core(), self.wire)
        async with stream.running():
            yield stream
