"""Transport halves: a source that produces user audio and a paced sink that plays bot audio.

A transport connects a pipeline to the outside world (a file, a socket, a sound card).  It
has two halves that sit at the two ends of a pipeline::

    Pipeline([transport.input(), ..., S2SProcessor(provider), transport.output()])

* :class:`InputTransport` is a *source*: it starts its reading task in ``on_start`` and
  pushes :class:`~beluga_voice.frames.InputAudioFrame` downstream as audio arrives.  It
  announces remote peers with :class:`ClientConnectedFrame` / :class:`ClientDisconnectedFrame`.
* :class:`~.output.OutputTransport` (in :mod:`.output`) is a *sink*: it buffers bot audio
  and releases it in fixed chunks at real-time pace (see :mod:`.pacing`), tracks whether the
  bot is speaking, and handles barge-in.

Both halves pass on every frame they do not consume, as every processor must.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Final

import anyio

from ..frames import (
    Direction,
    Frame,
    InputAudioFrame,
    StartFrame,
    SystemFrame,
)
from ..pipeline import FrameProcessor
from .output import OutputTransport

__all__ = [
    "ClientConnectedFrame",
    "ClientDisconnectedFrame",
    "InputTransport",
    "Transport",
]

log = logging.getLogger("beluga_voice.transports")

_DOWN: Final = Direction.DOWNSTREAM
_UP: Final = Direction.UPSTREAM


@dataclass(slots=True)
class ClientConnectedFrame(SystemFrame):
    """A remote peer joined (a WebSocket client connected, a phone call started)."""

    peer_id: str
    address: str | None = None
    metadata: dict[str, Any] | None = None


@dataclass(slots=True)
class ClientDisconnectedFrame(SystemFrame):
    """The remote peer left; no more input will come from it."""

    peer_id: str
    reason: str = ""


class InputTransport(FrameProcessor):
    """Source half of a transport.  Subclasses implement :meth:`read`.

    :meth:`read` runs as a task of the pipeline once the StartFrame has gone past, so that no
    audio can overtake it; it returns when the source is exhausted, and is cancelled when the
    pipeline stops.  It calls :meth:`push_audio` for every block it reads.
    """

    def __init__(self, *, name: str | None = None, inbox_capacity: int | None = None) -> None:
        super().__init__(name=name, inbox_capacity=inbox_capacity)
        self.start_frame: StartFrame | None = None
        self._started = anyio.Event()
        self._samples_pushed = 0

    async def on_start(self, frame: StartFrame) -> None:
        self.start_frame = frame
        self.create_task(self._reader_main, name=f"{self.name}.read")

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        await self.push_frame(frame, direction)
        if direction is _DOWN and isinstance(frame, StartFrame):
            self._started.set()

    async def _reader_main(self) -> None:
        await self._started.wait()
        await self.read()

    async def read(self) -> None:
        """Read the source until it ends, calling :meth:`push_audio`."""
        raise NotImplementedError

    @property
    def sample_rate(self) -> int:
        """The pipeline's input rate (known once the StartFrame arrived)."""
        return self.start_frame.input_sample_rate if self.start_frame else 16000

    async def push_audio(self, audio: bytes, sample_rate: int, channels: int = 1) -> None:
        """Push one block of PCM16 user audio, stamped with its position in the stream."""
        await self.push_audio_frame(InputAudioFrame(audio, sample_rate, channels))

    async def push_audio_frame(self, frame: InputAudioFrame) -> None:
        """Push a ready-made user audio frame, stamping its position in the stream."""
        frame.timestamp = self._samples_pushed / frame.sample_rate
        self._samples_pushed += frame.num_samples
        await self.push_frame(frame, _DOWN)

    def push_audio_frame_nowait(self, frame: InputAudioFrame) -> bool:
        """:meth:`push_audio_frame` to an idle receiver, from an I/O callback (see
        :meth:`~beluga_voice.pipeline.FrameProcessor.push_frame_nowait`); False, with
        nothing pushed and the stream position unchanged, when it would have to wait."""
        frame.timestamp = self._samples_pushed / frame.sample_rate
        if not self.push_frame_nowait(frame, _DOWN):
            return False
        self._samples_pushed += frame.num_samples
        return True

    async def peer_joined(
        self, peer_id: str, address: str | None = None, metadata: dict[str, Any] | None = None
    ) -> None:
        await self.push_frame(ClientConnectedFrame(peer_id, address, metadata), _DOWN)

    async def peer_left(self, peer_id: str, reason: str = "") -> None:
        await self.push_frame(ClientDisconnectedFrame(peer_id, reason), _DOWN)


class Transport:
    """A transport as a pair of halves: ``input()`` and ``output()`` processors."""

    def input(self) -> InputTransport:
        raise NotImplementedError

    def output(self) -> OutputTransport:
        raise NotImplementedError
