"""Deepgram live transcription (``wss://api.deepgram.com/v1/listen``).

Written from Deepgram's streaming documents (see docs/services/deepgram.md for the
list): raw PCM16 goes up as binary frames, ``Results`` messages come down with interim
(``is_final: false``) and finalized segments; one utterance may span several finalized
segments, so the core joins them.  The caller ends an utterance with ``Finalize``; the
service flushes and marks the last segment ``from_finalize`` (it does not when nothing
was left to flush, so a finalized segment reaching the end of the audio sent counts as
the end too).  ``KeepAlive`` holds the socket open through silence (the service closes
after 10 s without audio, ``NET-0001``) and ``CloseStream`` says goodbye.

:class:`DeepgramCore` is the sans-I/O protocol; :class:`DeepgramSTT` the engine, on the
shared :class:`~beluga_voice.stt.wire.WebSocketSTTStream`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlencode

from ..errors import ErrorCode, S2SError
from ..secrets import register_secret
from .base import AsyncSTTEngine, STTResult
from .wire import WebSocketSTTStream
from .wire_core import OpenUtterance, Outgoing, WireCore, WireOptions, parse_message

__all__ = ["DeepgramCore", "DeepgramSTT"]

log = logging.getLogger("beluga_voice.stt.deepgram")

DEFAULT_URL = "wss://api.deepgram.com/v1/listen"
_SLACK = 0.05
"""Seconds of audio a finalized segment may fall short of the end and still cover it."""
_KEEPALIVE = json.dumps({"type": "KeepAlive"})
_FINALIZE = json.dumps({"type": "Finalize"})
_CLOSE = json.dumps({"type": "CloseStream"})


class DeepgramCore(WireCore):
    """The protocol and the state of one utterance.  ``query`` holds the listen
    parameters (see :class:`DeepgramSTT`)."""

    service = "deepgram"

    def __init__(self, api_key: str, base_url: str, query: dict[str, Any]) -> None:
        self._key = api_key
        self._base_url = base_url
        self.query = query
        self.sample_rate = int(query["sample_rate"])
        self.metadata: dict[str, Any] | None = None
        """The last ``Metadata`` message (its ``request_id`` is what support asks for)."""
        self.speech_started = 0
        self.utterance_ends = 0
        self._sent_s = 0.0
        """Audio sent on this connection, in seconds (the service's timeline)."""
        self._dropped_until = 0.0
        self._utt = OpenUtterance(self.sample_rate)
        self._covered = 0.0
        self._marks: deque[float] = deque()
        """Where each finalized utterance awaiting its final ends (seconds)."""

    def url(self) -> str:
        return f"{self._base_url}?{urlencode(self.query, doseq=True)}"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self._key}"}

    def __repr__(self) -> str:
        return f"DeepgramCore(url={self.url()!r})"

    # -- out --------------------------------------------------------------------------------------

    def audio(self, pcm: bytes) -> list[Outgoing]:
        self._sent_s += len(pcm) / (2 * self.sample_rate)
        self._utt.bytes += len(pcm)
        return [pcm]

    def finalize(self) -> tuple[list[Outgoing], STTResult | None]:
        if self._utt.empty and not self._marks:
            return [], STTResult("", final=True)
        if not self._marks and self._covered >= self._sent_s - _SLACK and not self._utt.interim:
            return [], self._utt.complete()
        self._marks.append(self._sent_s)
        return [_FINALIZE], None

    def reset(self) -> list[Outgoing]:
        if not self._marks:  # (else its results cannot be told from the finalized ones')
            self._dropped_until = self._sent_s
        self._utt.clear()
        return []

    def keepalive(self) -> list[Outgoing]:
        return [_KEEPALIVE]

    def closing(self) -> list[Outgoing]:
        return [_CLOSE]

    def reconnected(self) -> None:
        self._sent_s = self._dropped_until = self._covered = 0.0
        self._marks.clear()
        self._utt.clear()

    def expire(self) -> STTResult:
        result = self._utt.overdue("deepgram")
        log.warning("deepgram: no from_finalize in time; using the results so far")
        if self._marks:
            self._marks.popleft()
        return result

    # -- in ---------------------------------------------------------------------------------------

    def receive(self, text: str) -> list[STTResult]:
        data = parse_message(text, "deepgram")
        if data is None:
            return []
        kind = data.get("type")
        if kind == "Results":
            return self._results(data)
        if kind == "Metadata":
            self.metadata = data
            log.debug("deepgram: request %s", data.get("request_id"))
        elif kind == "SpeechStarted":
            self.speech_started += 1
        elif kind == "UtteranceEnd":
            self.utterance_ends += 1
        elif kind == "Error":
            said = data.get("description") or data.get("message") or data.get("variant")
            raise S2SError(
                "receive",
                ErrorCode.STREAM_ERROR,
                f"deepgram: {str(said)[:300]}",
                details={"code": str(data.get("code"))},
            )
        return []

    def _results(self, data: dict[str, Any]) -> list[STTResult]:
        start, duration = _number(data.get("start")), _number(data.get("duration"))
        end = start + duration
        if end <= self._dropped_until + 1e-6:
            return []  # audio of an utterance that was reset
        text = _transcript(data)
        self._utt.heard = True
        if data.get("is_final") is True:
            if text:
                self._utt.finals.append(text)
            self._utt.interim = ""
            self._covered = max(self._covered, end)
            if self._marks and (
                data.get("from_finalize") is True or end >= self._marks[0] - _SLACK
            ):
                self._marks.popleft()
                done = [self._utt.complete()]
                while self._marks and self._covered >= self._marks[0] - _SLACK:
                    self._marks.popleft()  # an utterance finalized with no audio of its own
                    done.append(self._utt.complete())
                return done
            return [self._utt.partial()] if text else []
        if not text or text == self._utt.interim:
            return []
        self._utt.interim = text
        return [self._utt.partial()]


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _transcript(data: dict[str, Any]) -> str:
    channel = data.get("channel")
    alternatives = channel.get("alternatives") if isinstance(channel, dict) else None
    if not isinstance(alternatives, list) or not alternatives:
        return ""
    first = alternatives[0]
    text = first.get("transcript") if isinstance(first, dict) else None
    return text.strip() if isinstance(text, str) else ""


class DeepgramSTT(AsyncSTTEngine):
    """Deepgram live STT.  The key comes from ``api_key`` or ``DEEPGRAM_API_KEY``.

    ``model``, ``language``, ``interim_results``, ``endpointing`` (ms of silence that
    closes a finalized segment, or False), ``utterance_end_ms``, ``vad_events``,
    ``smart_format`` and ``keyterms`` are Deepgram's listen parameters; turn ends are the
    caller's (``Finalize``).  ``connect_timeout``, ``finalize_timeout``, ``keepalive_s``,
    ``reconnects`` and ``replay_s`` tune the shell (:mod:`beluga_voice.stt.wire`).
    """

    name = "deepgram"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        model: str = "nova-3",
        language: str | None = "en",
        sample_rate: int = 16000,
        interim_results: bool = True,
        endpointing: int | bool = 300,
        utterance_end_ms: int | None = None,
        vad_events: bool = False,
        smart_format: bool = True,
        keyterms: Sequence[str] = (),
        base_url: str = DEFAULT_URL,
        connect_timeout: float = 10.0,
        finalize_timeout: float = 3.0,
        keepalive_s: float | None = 4.0,
        reconnects: int = 2,
        replay_s: float = 30.0,
    ) -> None:
        key = api_key or os.environ.get("DEEPGRAM_API_KEY", "")
        if not key:
            raise S2SError("configure", ErrorCode.INVALID_CONFIG, "deepgram needs DEEPGRAM_API_KEY")
        if utterance_end_ms is not None and not interim_results:
            raise ValueError("deepgram's utterance_end_ms needs interim_results")
        register_secret(key)
        self._key = key
        self.sample_rate = sample_rate
        self.base_url = base_url
        query: dict[str, Any] = {
            "model": model,
            "encoding": "linear16",
            "sample_rate": sample_rate,
            "channels": 1,
            "interim_results": _flag(interim_results),
            "endpointing": _flag(endpointing) if isinstance(endpointing, bool) else endpointing,
            "vad_events": _flag(vad_events),
            "smart_format": _flag(smart_format),
        }
        if language:
            query["language"] = language
        if utterance_end_ms is not None:
            query["utterance_end_ms"] = utterance_end_ms
        if keyterms:
            query["keyterm"] = list(keyterms)
        self.query = query
        self.wire = WireOptions(
            connect_timeout, finalize_timeout, keepalive_s, reconnects, replay_s
        )

    def __repr__(self) -> str:
        return f"DeepgramSTT(model={self.query['model']!r}, base_url={self.base_url!r})"

    def new_core(self) -> DeepgramCore:
        return DeepgramCore(self._key, self.base_url, dict(self.query))

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[WebSocketSTTStream]:
        stream = WebSocketSTTStream(self.new_core(), self.wire)
        async with stream.running():
            yield stream


def _flag(value: bool) -> str:
    return "true" if value else "false"
