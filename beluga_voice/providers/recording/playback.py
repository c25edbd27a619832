"""The ``replay`` provider: play a recording back, deterministically, against the same input.

A replay session checks everything the pipeline sends against what the recording says
was sent, and releases each recorded event at its *gate* (the input that had been sent
when the event arrived live).  Time plays no part: the events come out in the recorded
order, interleaved with the input exactly as recorded, however fast or slow the pipeline
runs.  That is the virtual clock: the recording's own input is the clock.

When the input diverges (other audio, another text, an operation out of place) the
replay fails loudly: :class:`ReplayDivergence` (an :class:`S2SError` with code
``invalid_input``) is raised from the send call and ends the session as a fatal error,
with a message that shows where and how the input differs and the last inputs that
still matched.

Audio is compared sample by sample; ``audio_tolerance`` (largest allowed difference of
one PCM16 sample, default 0: bit-exact) admits input that went through a dithering
resampler.  Silence (all zero) beyond the end of the recorded input is accepted, since a
microphone goes on sending it after the last recorded turn.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import anyio
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ...conversation import ConversationContext
from ..base import StreamingS2SProvider, StreamingSession
from ..config import S2SConfig
from ..errors import ErrorCode, S2SError
from ..events import SessionClosed, SessionError, SessionEvent
from ..registry import register_provider
from .format import Entry, Recording

__all__ = ["ReplayDivergence", "ReplayProvider", "ReplaySession", "ReplaySettings"]


class ReplaySettings(BaseModel):
    """``provider_specific`` keys of the ``replay`` provider."""

    model_config = ConfigDict(extra="forbid")

    recording: str
    """Path of the recording's ``.jsonl`` file (its ``.pcm`` sidecar lies beside it)."""
    audio_tolerance: int = Field(default=0, ge=0, le=32767)


class ReplayDivergence(S2SError):
    """The pipeline's input differs from the recorded input (see the message for where)."""

    def __init__(self, op: str, message: str) -> None:
        super().__init__(op, ErrorCode.INVALID_INPUT, message)


class ReplayProvider(StreamingS2SProvider):
    """Replays ``recording`` (a :class:`Recording` or its path) in every session it opens.

    It presents the recorded provider's capabilities, so the pipeline behaves as it did
    live.  ``divergences`` collects every divergence found, across sessions.
    """

    def __init__(
        self,
        recording: Recording | Path | str,
        config: S2SConfig | None = None,
        *,
        audio_tolerance: int = 0,
    ) -> None:
        super().__init__(config or S2SConfig(provider="replay"))
        self.recording = recording if isinstance(recording, Recording) else Recording(recording)
        self.name = "replay"
        self.capabilities = self.recording.capabilities
        self.audio_tolerance = audio_tolerance
        self.divergences: list[ReplayDivergence] = []
        self.sessions: list[ReplaySession] = []

    @classmethod
    def from_config(cls, config: S2SConfig, settings: ReplaySettings | None) -> ReplayProvider:
        if settings is None:
            raise S2SError(
                "new_provider",
                ErrorCode.INVALID_CONFIG,
                "provider_specific.recording: replay needs the path of a recording",
            )
        try:
            recording = Recording(settings.recording)
        except (OSError, ValueError) as exc:
            raise S2SError(
                "new_provider", ErrorCode.INVALID_CONFIG, f"provider_specific.recording: {exc}"
            ) from None
        return cls(recording, config, audio_tolerance=settings.audio_tolerance)

    async def _open_session(self, ctx: ConversationContext) -> StreamingSession:
        session = ReplaySession(self, ctx)
        self.sessions.append(session)
        return session


class ReplaySession(StreamingSession):
    """One replay of the recording; see the module docstring."""

    def __init__(self, provider: ReplayProvider, ctx: ConversationContext) -> None:
        super().__init__(provider.name, ctx)
        self.p = provider
        rec = provider.recording
        self._inputs = rec.inputs()
        self._outputs = rec.outputs()
        self._in_index = 0
        """The recorded input expected next."""
        self._in_offset = 0
        """Bytes of that input (audio) already matched."""
        self._out_index = 0
        self._audio_in = 0
        self._ops_in = 0
        self._wake = anyio.Event()
        self.divergence: ReplayDivergence | None = None

    # -- the pipeline's input, checked against the recording --------------------------------

    def _expected(self) -> Entry | None:
        return self._inputs[self._in_index] if self._in_index < len(self._inputs) else None

    def _fail(self, op: str, problem: str) -> ReplayDivergence:
        rate = self.p.capabilities.input_sample_rates[0]
        at = self._audio_in / (2 * rate)
        done = self._inputs[max(0, self._in_index - 3) : self._in_index]
        ahead = self._inputs[self._in_index : self._in_index + 2]
        said = [
            f"{e.args.get('role')} said {e.args.get('text')!r}"
            for e in self._outputs[: self._out_index]
            if e.op == "Transcript" and e.args.get("final")
        ][-2:]
        lines = [
            f"replay of {self.p.recording.path.name} diverged at input #{self._in_index + 1} "
            f"(after {self._audio_in} bytes of audio, ~{at:.3f} s at {rate} Hz, "
            f"and {self._ops_in} other operations):",
            *(f"  {line}" for line in problem.splitlines()),
            f"  conversation so far: {'; '.join(said)}" if said else "  before any transcript",
            "  last matching inputs:" if done else "  no input matched yet",
            *(f"    {e.describe()}" for e in done),
            "  recorded next:" if ahead else "  the recording has no more input",
            *(f"    {e.describe()}" for e in ahead),
        ]
        err = ReplayDivergence(op, "\n".join(lines))
        self.divergence = err
        self.p.divergences.append(err)
        self._emit(SessionError(err, fatal=True))
        self._finish(SessionClosed(reason="replay diverged", error=err))
        self._wake.set()
        return err

    def _check_open(self, op: str) -> None:
        if self.divergence is not None:
            raise self.divergence
        if self.closed:
            raise S2SError(op, ErrorCode.STREAM_CLOSED, "replay session closed")

    def _advance(self, audio: int = 0) -> None:
        if audio:
            self._audio_in += audio
        else:
            self._ops_in += 1
        self._wake.set()

    async def send_audio(self, audio: bytes) -> None:
        self._check_open("send_audio")
        data = bytes(audio)
        pos = 0
        while pos < len(data):
            entry = self._expected()
            if entry is None:
                if any(data[pos:]):
                    raise self._fail(
                        "send_audio",
                        f"received {len(data) - pos} more bytes of audio (not silence), "
                        "but the recorded input has ended",
                    )
                break
            if entry.op != "send_audio":
                raise self._fail(
                    "send_audio",
                    f"recorded: {entry.op} {_args(entry.args)}\n"
                    f"received: send_audio ({len(data) - pos} bytes)",
                )
            want = entry.audio[self._in_offset :]
            n = min(len(want), len(data) - pos)
            self._compare_audio(want[:n], data[pos : pos + n])
            pos += n
            self._in_offset += n
            if self._in_offset >= len(entry.audio):
                self._in_index += 1
                self._in_offset = 0
        self._advance(audio=len(data))

    def _compare_audio(self, want: bytes, got: bytes) -> None:
        if want == got:
            return
        a = np.frombuffer(want[: len(want) // 2 * 2], dtype="<i2").astype(np.int32)
        b = np.frombuffer(got[: len(got) // 2 * 2], dtype="<i2").astype(np.int32)
        diff = np.abs(a - b)
        if diff.size and int(diff.max()) <= self.p.audio_tolerance:
            return
        first = int(np.argmax(diff > self.p.audio_tolerance)) if diff.size else 0
        raise self._fail(
            "send_audio",
            f"audio differs at sample {first} of this chunk "
            f"(byte {self._audio_in + 2 * first} of the input): "
            f"recorded {int(a[first]) if a.size else '-'}, received {int(b[first]) if b.size else '-'}; "
            f"{int(np.count_nonzero(diff > self.p.audio_tolerance))} of {diff.size} samples differ "
            f"by up to {int(diff.max()) if diff.size else 0} (tolerance {self.p.audio_tolerance}); "
            f"level recorded {_rms(a):.0f} rms, received {_rms(b):.0f} rms",
        )

    def _op(self, op: str, args: dict[str, Any], compare: tuple[str, ...]) -> None:
        self._check_open(op)
        entry = self._expected()
        if entry is None:
            raise self._fail(op, f"received: {op} {_args(args)}\nbut the recorded input has ended")
        if entry.op != op or self._in_offset:
            left = f" ({len(entry.audio) - self._in_offset} bytes of it still due)"
            raise self._fail(
                op,
                f"recorded: {entry.op} {_args(entry.args)}{left if self._in_offset else ''}\n"
                f"received: {op} {_args(args)}",
            )
        for key in compare:
            want, got = entry.args.get(key), args.get(key)
            if want != got:
                diff = "\n".join(
                    difflib.ndiff(str(want).splitlines() or [""], str(got).splitlines() or [""])
                )
                raise self._fail(op, f"{op}: {key} differs (- recorded, + received):\n{diff}")
        self._in_index += 1
        self._advance()

    async def send_text(self, text: str) -> None:
        self._op("send_text", {"text": text}, ("text",))

    async def speak(self, text: str) -> None:
        self._op("speak", {"text": text}, ("text",))

    async def send_tool_result(self, call_id: str, output: str) -> None:
        self._op("send_tool_result", {"call_id": call_id, "output": output}, ("call_id", "output"))

    async def end_turn(self) -> None:
        self._op("end_turn", {}, ())

    async def interrupt(self, played_ms: float | None = None) -> None:
        # played_ms comes from a playback clock: compared by kind only.
        self._op("interrupt", {"played_ms": played_ms}, ())

    async def _close(self) -> None:
        self._wake.set()

    @property
    def unplayed(self) -> list[Entry]:
        """Recorded inputs the pipeline never sent (it stopped early, or is still going)."""
        return self._inputs[self._in_index :]

    # -- the recorded events, released at their gates --------------------------------------

    def _due(self) -> list[SessionEvent]:
        out: list[SessionEvent] = []
        while self._out_index < len(self._outputs):
            entry = self._outputs[self._out_index]
            if entry.gate_audio > self._audio_in or entry.gate_ops > self._ops_in:
                break
            out.append(entry.event())
            self._out_index += 1
        return out

    async def _receive(self) -> Iterable[SessionEvent]:
        while True:
            due = self._due()
            if due:
                return due
            if self._finished:
                return []  # a divergence ended the session: its events are pending
            if self._closing:
                return [SessionClosed(reason="closed by client")]
            self._wake = anyio.Event()
            await self._wake.wait()


def _args(args: dict[str, Any]) -> str:
    shown = {k: v for k, v in args.items() if v is not None}
    return repr(shown) if shown else ""


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if x.size else 0.0


register_provider(
    "replay",
    ReplayProvider.from_config,
    settings=ReplaySettings,
    requires_api_key=False,
    description="Plays a recorded session back, deterministically",
    credentials="none (provider_specific.recording: the recording's path)",
)
