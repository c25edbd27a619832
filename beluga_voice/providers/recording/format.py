"""The recording file format: JSON lines for events, a sidecar file for audio.

A recording is two files side by side::

    call.jsonl   one JSON object per line: a header, then every input and output entry
    call.pcm     raw PCM16 mono audio referenced by the entries (``[offset, length]``)

The header (``"kind": "header"``) names the provider, its capabilities (the replay
presents the same ones, so a pipeline adapts to it exactly as it did to the live
provider) and its configuration with the secrets redacted.  Every other line is an
entry: ``"kind": "in"`` for what the pipeline sent (``send_audio``, ``send_text``,
``speak``, ``send_tool_result``, ``end_turn``, ``interrupt``), ``"kind": "out"`` for
each event the provider produced.  Each entry carries ``t``, seconds since the session
opened, and each output carries its *gate*: how much input (audio bytes, other
operations) the pipeline had sent when the event arrived.  The replay releases an event
at its gate, which is what makes it deterministic whatever the wall clock does.

Audio lives in the sidecar so that the JSON stays readable (and diffable) and the
audio is stored once, byte for byte.  All text passes through
:func:`~beluga_voice.secrets.redact` before it is written.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from ...secrets import redact
from .. import events as ev
from ..errors import S2SError
from ..types import ProviderCapabilities

__all__ = [
    "FORMAT_VERSION",
    "Entry",
    "Recording",
    "RecordingWriter",
    "decode_event",
    "encode_event",
    "sidecar_path",
]

FORMAT_VERSION = 1

_EVENT_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        ev.SessionReady,
        ev.AudioChunk,
        ev.Transcript,
        ev.SpeechStarted,
        ev.SpeechStopped,
        ev.Interrupted,
        ev.ResponseStarted,
        ev.ResponseDone,
        ev.ToolCall,
        ev.ToolCallCancelled,
        ev.Usage,
        ev.SessionError,
        ev.SessionClosed,
        ev.SessionReconnected,
        ev.ProviderSwitched,
    )
}
_SKIP_FIELDS = {"timestamp"}  # wall-clock only; the entry's ``t`` is the recorded time


def sidecar_path(path: Path) -> Path:
    """Where the audio of the recording at ``path`` lives."""
    return path.with_suffix(".pcm")


def _scrub(value: Any) -> Any:
    """Redact every string inside ``value`` (dicts, lists, tuples)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value


def _error_to_json(error: S2SError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {"op": error.op, "code": error.code.value, "message": redact(error.message)}


def _error_from_json(data: dict[str, Any] | None) -> S2SError | None:
    if data is None:
        return None
    return S2SError(data["op"], data["code"], data.get("message", ""))


def encode_event(event: ev.SessionEvent) -> tuple[dict[str, Any], bytes]:
    """An event as JSON fields plus its audio (which goes to the sidecar)."""
    data: dict[str, Any] = {"event": type(event).__name__}
    audio = b""
    for f in dataclasses.fields(event):
        if f.name in _SKIP_FIELDS:
            continue
        value = getattr(event, f.name)
        if isinstance(value, bytes):
            audio = value
            continue
        if isinstance(value, S2SError) or (value is None and f.name == "error"):
            data[f.name] = _error_to_json(value)
        else:
            data[f.name] = _scrub(value)
    return data, audio


def decode_event(data: dict[str, Any], audio: bytes) -> ev.SessionEvent:
    """The event :func:`encode_event` wrote."""
    cls = _EVENT_TYPES.get(data.get("event", ""))
    if cls is None:
        raise ValueError(f"unknown event type in recording: {data.get('event')!r}")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in _SKIP_FIELDS or not f.init:
            continue
        if f.type in ("bytes",) or f.name == "audio":
            kwargs[f.name] = audio
        elif f.name == "error":
            kwargs[f.name] = _error_from_json(data.get("error"))
        elif f.name in data:
            value = data[f.name]
            kwargs[f.name] = tuple(value) if f.name == "call_ids" else value
    event: ev.SessionEvent = cls(**kwargs)
    return event


@dataclass(slots=True)
class Entry:
    """One line of a recording after the header.

    ``kind`` is ``in`` or ``out``; ``op`` the input operation (``send_audio``...) or the
    output event's type name; ``audio`` the bytes it carried; ``args`` its other fields.
    ``gate_audio`` / ``gate_ops``: input audio bytes and other input operations sent
    before this entry (for inputs: before it, for outputs: when it arrived).
    """

    kind: str
    op: str
    t: float
    gate_audio: int
    gate_ops: int
    args: dict[str, Any] = field(default_factory=dict)
    audio: bytes = b""

    def event(self) -> ev.SessionEvent:
        """The session event of an output entry."""
        return decode_event({"event": self.op, **self.args}, self.audio)

    def describe(self) -> str:
        """One readable line: what happened, when, with what."""
        head = f"{self.t:8.3f} s  {self.kind:>3} {self.op}"
        if self.audio:
            head += f" ({len(self.audio)} bytes of audio)"
        shown = {k: v for k, v in self.args.items() if v not in (None, "", [], {})}
        return head + (f" {json.dumps(shown, ensure_ascii=False)}" if shown else "")


class Recording:
    """A recording read back: its header and its entries, audio loaded."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        lines = self.path.read_text(encoding="utf-8").splitlines()
        if not lines:
            raise ValueError(f"{self.path}: empty recording")
        self.header: dict[str, Any] = json.loads(lines[0])
        if self.header.get("kind") != "header":
            raise ValueError(f"{self.path}: the first line is not a recording header")
        if self.header.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"{self.path}: recording format {self.header.get('version')}, "
                f"this version reads {FORMAT_VERSION}"
            )
        audio = sidecar_path(self.path).read_bytes()
        self.entries: list[Entry] = []
        for number, line in enumerate(lines[1:], start=2):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                offset, length = data.pop("audio", (0, 0))
                self.entries.append(
                    Entry(
                        kind=data.pop("kind"),
                        op=data.pop("op"),
                        t=float(data.pop("t")),
                        gate_audio=int(data.pop("gate_audio")),
                        gate_ops=int(data.pop("gate_ops")),
                        args=data,
                        audio=audio[offset : offset + length],
                    )
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{self.path}:{number}: bad entry: {exc}") from None

    @property
    def provider(self) -> str:
        return str(self.header.get("provider", "?"))

    @property
    def capabilities(self) -> ProviderCapabilities:
        caps = dict(self.header.get("capabilities", {}))
        caps["input_sample_rates"] = tuple(caps.get("input_sample_rates", (16000,)))
        return ProviderCapabilities(**caps)

    def inputs(self) -> list[Entry]:
        return [e for e in self.entries if e.kind == "in"]

    def outputs(self) -> list[Entry]:
        return [e for e in self.entries if e.kind == "out"]

    def input_audio(self) -> bytes:
        """Every byte of user audio the pipeline sent, in order: the input to replay."""
        return b"".join(e.audio for e in self.entries if e.kind == "in")

    def output_audio(self) -> bytes:
        """Every byte of reply audio the provider produced, in order."""
        return b"".join(e.audio for e in self.entries if e.kind == "out")

    def events(self) -> Iterator[ev.SessionEvent]:
        for entry in self.outputs():
            yield entry.event()


class RecordingWriter:
    """Appends entries to a recording as they happen.

    Writes are buffered (they reach the page cache in blocks, never waiting on the disk
    in the event loop) and flushed when the session closes.
    """

    def __init__(
        self, path: Path | str, provider: str, capabilities: ProviderCapabilities, config: Any
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._jsonl: TextIO = self.path.open("w", encoding="utf-8")
        self._audio: BinaryIO = sidecar_path(self.path).open("wb")
        self._offset = 0
        caps = dataclasses.asdict(capabilities)
        caps["input_sample_rates"] = list(caps["input_sample_rates"])
        header = {
            "kind": "header",
            "version": FORMAT_VERSION,
            "provider": provider,
            "capabilities": caps,
            "config": _scrub(config),
            "audio_file": sidecar_path(self.path).name,
        }
        self._line(header)

    def _line(self, data: dict[str, Any]) -> None:
        self._jsonl.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n")

    def write(
        self,
        kind: str,
        op: str,
        t: float,
        gate: tuple[int, int],
        args: dict[str, Any],
        audio: bytes = b"",
    ) -> None:
        data: dict[str, Any] = {
            "kind": kind,
            "op": op,
            "t": round(t, 6),
            "gate_audio": gate[0],
            "gate_ops": gate[1],
            **args,
        }
        if audio:
            self._audio.write(audio)
            data["audio"] = [self._offset, len(audio)]
            self._offset += len(audio)
        self._line(data)

    @property
    def closed(self) -> bool:
        return self._jsonl.closed

    def close(self) -> None:
        self._jsonl.close()
        self._audio.close()
