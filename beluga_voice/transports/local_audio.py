"""Local audio device transport: microphone in, speaker out, through ``sounddevice``.

``sounddevice`` (PortAudio) is an optional extra: ``pip install 'beluga-voice[audio]'``.
Everything that can be missing is reported by name: the Python package, the PortAudio
library under it, or an input / output device, as a :class:`LocalAudioUnavailable` raised
when the transport is made, not deep inside a running pipeline.

Blocking device reads and writes run in worker threads (``anyio.to_thread``), so the event
loop never waits on the sound card.  The output half paces audio itself (see
:mod:`.pacing`): the device buffer then holds at most a chunk or two, which is what lets a
barge-in stop the bot within one chunk and report what was heard.

``backend`` replaces the ``sounddevice`` module (tests pass a fake with the same
``RawInputStream`` / ``RawOutputStream`` / ``query_devices`` API).
"""

from __future__ import annotations

import contextlib
import importlib
from types import ModuleType
from typing import Any

from ..audio.engine_owner import EngineClosedError, EngineOwner
from ..frames import StartFrame
from .base import InputTransport, Transport
from .output import OutputTransport
from .pacing import Clock

__all__ = ["LocalAudioInput", "LocalAudioOutput", "LocalAudioTransport", "LocalAudioUnavailable"]


class LocalAudioUnavailable(RuntimeError):
    """The local audio transport cannot run here; the message says what is missing."""


def load_sounddevice() -> ModuleType:
    """Import ``sounddevice`` or raise :class:`LocalAudioUnavailable` naming what is missing."""
    try:
        return importlib.import_module("sounddevice")
    except ImportError:
        raise LocalAudioUnavailable(
            "local audio needs the 'sounddevice' package: pip install 'beluga-voice[audio]'"
        ) from None
    except OSError as exc:  # the package is there but the PortAudio library is not
        raise LocalAudioUnavailable(
            "the 'sounddevice' package is installed but the PortAudio library was not found "
            f"({exc}); install it (Debian/Ubuntu: apt-get install libportaudio2; macOS: "
            "brew install portaudio)"
        ) from None


def _check_device(backend: Any, device: int | str | None, kind: str) -> None:
    try:
        info = backend.query_devices(device, kind=kind)
    except Exception as exc:
        what = f"device {device!r}" if device is not None else f"default {kind} device"
        raise LocalAudioUnavailable(f"no audio {kind} available: {what} ({exc})") from None
    channels = info.get(f"max_{kind}_channels", 0) if isinstance(info, dict) else 1
    if not channels:
        raise LocalAudioUnavailable(f"audio device {info.get('name', device)!r} has no {kind}")


def _stop_and_close(stream: Any) -> None:
    stream.stop()
    stream.close()


class LocalAudioInput(InputTransport):
    """Reads the microphone in ``chunk_ms`` blocks at the pipeline's input rate."""

    def __init__(self, owner: LocalAudioTransport) -> None:
        super().__init__(name="mic")
        self.owner = owner
        self._stream: Any = None

    async def read(self) -> None:
        rate = self.sample_rate
        channels = self.start_frame.channels if self.start_frame else 1
        frames = max(1, round(rate * self.owner.chunk_ms / 1000))
        stream = self.owner.backend.RawInputStream(
            samplerate=rate,
            channels=channels,
            dtype="int16",
            blocksize=frames,
            device=self.owner.input_device,
        )
        self._stream = stream
        # PortAudio streams are native: one thread inside at a time, and the stream is
        # closed only after the read in flight returns (at most one block, chunk_ms).
        owner = EngineOwner("microphone", close=lambda: _stop_and_close(stream))
        stream.start()
        try:
            while True:
                data, _overflowed = await owner.run(stream.read, frames)
                if not data:
                    return
                await self.push_audio(bytes(data), rate, channels)
        finally:
            self._stream = None
            await owner.aclose()


class LocalAudioOutput(OutputTransport):
    """Plays bot audio on the speaker, paced in chunks (see :class:`OutputTransport`)."""

    def __init__(self, owner: LocalAudioTransport, clock: Clock | None = None) -> None:
        super().__init__(chunk_ms=owner.chunk_ms, realtime=True, clock=clock, name="speaker")
        self.owner = owner
        self._stream: Any = None
        self._device: EngineOwner | None = None
        """Owns :attr:`_stream`: writes and the close go through it, one at a time."""

    async def on_start(self, frame: StartFrame) -> None:
        await super().on_start(frame)
        stream = self.owner.backend.RawOutputStream(
            samplerate=self.sample_rate,
            channels=self.channels,
            dtype="int16",
            device=self.owner.output_device,
        )
        self._stream = stream
        self._device = EngineOwner("speaker", close=lambda: _stop_and_close(stream))
        stream.start()

    async def write_audio(self, chunk: bytes) -> None:
        if self._stream is not None and self._device is not None:
            # closed by a stop deadline meanwhile: there is nothing more to play
            with contextlib.suppress(EngineClosedError):
                await self._device.run(self._stream.write, chunk)

    async def on_stop(self) -> None:
        try:
            await super().on_stop()
        finally:
            await self._close()

    async def on_cleanup(self) -> None:
        """Release the device even when a stop deadline cancelled the output mid-chunk
        (after the write in flight, if any)."""
        await super().on_cleanup()
        await self._close()

    async def _close(self) -> None:
        self._stream = None
        if self._device is not None:
            await self._device.aclose()


class LocalAudioTransport(Transport):
    """Microphone and speaker of this machine.  Checks the devices when made."""

    def __init__(
        self,
        *,
        input_device: int | str | None = None,
        output_device: int | str | None = None,
        chunk_ms: float = 20.0,
        backend: Any = None,
        use_input: bool = True,
        use_output: bool = True,
    ) -> None:
        self.backend = backend if backend is not None else load_sounddevice()
        self.input_device = input_device
        self.output_device = output_device
        self.chunk_ms = chunk_ms
        if use_input:
            _check_device(self.backend, input_device, "input")
        if use_output:
            _check_device(self.backend, output_device, "output")
        self._input = LocalAudioInput(self)
        self._output = LocalAudioOutput(self)

    def input(self) -> LocalAudioInput:
        return self._input

    def output(self) -> LocalAudioOutput:
        return self._output
