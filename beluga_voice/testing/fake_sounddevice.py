"""A fake ``sounddevice`` module: a scripted microphone and a recording speaker.

:class:`~beluga_voice.transports.local_audio.LocalAudioTransport` (and so ``beluga-voice
console``) takes a ``backend`` in place of the real module; this fake has the slice of its
API they use (``RawInputStream``, ``RawOutputStream``, ``query_devices``), so they run on a
machine with no sound card, in tests.  With ``realtime=True`` a read blocks for as long as
the block lasts, as a sound card does; otherwise the microphone is read as fast as asked.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import anyio.from_thread

__all__ = ["FakeSoundDevice"]


class FakeSoundDevice:
    """The slice of the sounddevice API the transport uses, with a scripted microphone.

    ``mic`` is a list of blocks, each exactly one read long; after them the microphone
    returns silence (``realtime``) or ends (an empty read).  ``played`` collects what the
    speaker was given; ``all_played`` is set once as many bytes as the microphone held
    were played (or ``expect_played`` bytes, when given).
    """

    def __init__(
        self,
        mic: list[bytes],
        *,
        inputs: int = 1,
        outputs: int = 2,
        realtime: bool = False,
        expect_played: int | None = None,
    ) -> None:
        self.mic = list(mic)
        self.played = bytearray()
        self.inputs = inputs
        self.outputs = outputs
        self.realtime = realtime
        self.expected = sum(len(b) for b in mic) if expect_played is None else expect_played
        self.all_played = anyio.Event()
        self.opened: list[dict[str, Any]] = []
        self.closed = 0
        fake = self

        class Stream:
            def __init__(self, **kwargs: Any) -> None:
                self.rate = int(kwargs.get("samplerate", 16000))
                fake.opened.append(kwargs)

            def start(self) -> None:
                pass

            def stop(self) -> None:
                pass

            def close(self) -> None:
                fake.closed += 1

        class RawInputStream(Stream):
            def read(self, frames: int) -> tuple[bytes, bool]:  # runs in a worker thread
                if fake.realtime:
                    time.sleep(frames / self.rate)
                    return (fake.mic.pop(0) if fake.mic else bytes(2 * frames)), False
                block = fake.mic.pop(0) if fake.mic else b""
                assert not block or len(block) == 2 * frames
                return block, False

        class RawOutputStream(Stream):
            def write(self, data: bytes) -> None:  # runs in an anyio worker thread
                fake.played.extend(data)
                if len(fake.played) >= fake.expected:
                    anyio.from_thread.run_sync(fake.all_played.set)

        self.RawInputStream = RawInputStream
        self.RawOutputStream = RawOutputStream

    def query_devices(self, device: Any = None, kind: str | None = None) -> dict[str, Any]:
        if device == "missing":
            raise ValueError("No input device matching 'missing'")
        return {
            "name": "fake card",
            "max_input_channels": self.inputs,
            "max_output_channels": self.outputs,
        }
