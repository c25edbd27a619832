"""``FakeTranscriptionHTTP``: OpenAI's ``POST /v1/audio/transcriptions`` on loopback.

It reads the multipart upload the way the API reference describes it (a ``file`` part
and form fields: ``model`` required, ``response_format``, ``language``, ``prompt``),
checks the file is a WAV it can read, and answers request *n* with
``{"text": transcripts[n]}`` (cycling), an answer validated against the ``openai``
SDK's ``Transcription`` type; fields the SDK does not know, or a
``response_format`` outside its ``AudioResponseFormat``, are recorded as violations.
``fail_status`` answers the next requests with these HTTP statuses and an OpenAI error
body; ``api_key``, when set, is the only bearer token accepted (401 otherwise).
"""

from __future__ import annotations

import contextlib
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc

from ..audio.wav import read_wav_pcm16
from .fake_chat import LoopbackHTTP, _send_simple, api_error

__all__ = ["FakeTranscriptionHTTP"]

_ANSWER: Any = None
"""The SDK's ``Transcription`` model (None without the SDK: no validation)."""
try:
    from openai.types.audio import Transcription, transcription_create_params
    from openai.types.audio_response_format import AudioResponseFormat
except ImportError:  # pragma: no cover - the SDK is installed with the test extra
    _FORMATS: frozenset[str] = frozenset()
    _FIELDS: frozenset[str] = frozenset()
else:
    _ANSWER = Transcription
    _FORMATS = frozenset(typing.get_args(AudioResponseFormat))
    _FIELDS = frozenset(
        typing.get_type_hints(transcription_create_params.TranscriptionCreateParamsBase)
    )


@dataclass
class FakeTranscriptionHTTP(LoopbackHTTP):
    """Use as ``async with FakeTranscriptionHTTP(["Hi."]) as fake:`` and point a client at
    ``fake.base_url``."""

    transcripts: Sequence[str] = ("Hello there.",)
    api_key: str | None = None
    fail_status: list[int] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    """Form fields of each accepted request, plus ``seconds`` (the WAV's duration)."""
    violations: list[str] = field(default_factory=list)
    port: int = 0
    _tg: anyio.abc.TaskGroup | None = None
    _listener: anyio.abc.Listener[anyio.abc.SocketStream] | None = None

    async def _serve_one(self, stream: anyio.abc.SocketStream) -> None:
        async with stream:
            request = await self._read_post(stream, "/v1/audio/transcriptions")
            if request is None:
                return
            headers, body = request
            if self.fail_status:
                await _send_simple(stream, self.fail_status.pop(0), api_error("injected"))
                return
            auth = headers.get("authorization", "")
            if self.api_key is not None and auth != f"Bearer {self.api_key}":
                await _send_simple(stream, 401, api_error("Incorrect API key provided."))
                return
            try:
                fields, wav = _multipart(headers.get("content-type", ""), body)
                pcm, rate, channels = read_wav_pcm16(wav)
            except ValueError as exc:
                await _send_simple(stream, 400, api_error(f"invalid upload: {exc}"))
                return
            self._check(fields)
            seconds = len(pcm) / 2 / channels / rate
            self.requests.append({**fields, "seconds": seconds})
            text = self.transcripts[(len(self.requests) - 1) % len(self.transcripts)]
            answer = {"text": text, "usage": {"type": "duration", "seconds": round(seconds, 3)}}
            if _ANSWER is not None:
                try:
                    _ANSWER.model_validate(answer)
                except Exception as exc:  # pragma: no cover - the fake's own bug
                    self.violations.append(f"answer: {exc}")
            with contextlib.suppress(anyio.BrokenResourceError):
                await _send_simple(stream, 200, answer)

    def _check(self, fields: dict[str, str]) -> None:
        if "model" not in fields:
            self.violations.append("no model field")
        if _FIELDS:
            unknown = set(fields) - _FIELDS
            if unknown:
                self.violations.append(f"fields the SDK does not know: {sorted(unknown)}")
        fmt = fields.get("response_format")
        if fmt is not None and _FORMATS and fmt not in _FORMATS:
            self.violations.append(f"response_format {fmt!r}")


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, str], bytes]:
    """The text fields and the ``file`` part of a ``multipart/form-data`` body."""
    kind, _, params = content_type.partition(";")
    boundary = params.strip().removeprefix("boundary=").strip('"')
    if kind.strip() != "multipart/form-data" or not boundary:
        raise ValueError("not multipart/form-data")
    fields: dict[str, str] = {}
    file: bytes | None = None
    for part in body.split(b"--" + boundary.encode())[1:]:
        if part.startswith(b"--"):
            break
        part = part.removeprefix(b"\r\n").removesuffix(b"\r\n")  # the delimiters' CRLFs
        head, _, content = part.partition(b"\r\n\r\n")
        disposition = next(
            (
                line
                for line in head.decode("latin-1").split("\r\n")
                if line.lower().startswith("content-disposition")
            ),
            "",
        )
        name = disposition.partition('name="')[2].partition('"')[0]
        if name == "file":
            file = content
        elif name:
            fields[name] = content.decode("utf-8")
    if file is None:
        raise ValueError("no file part")
    return fields, file
