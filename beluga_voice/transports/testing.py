"""Offline stand-ins for transports: a virtual clock and in-memory halves.

They let tests (ours and users') check pacing, barge-in accounting and whole pipelines
deterministically and in no wall-clock time:

* :class:`VirtualClock` advances only when someone sleeps on it, optionally adding
  a seeded random oversleep to every wake-up (the event loop being late), and can hold
  time at a chosen point (a *gate*) until the test has done something there;
* :class:`MemoryOutput` records each chunk with the (clock) time it was released;
* :class:`MemoryInput` pushes given audio blocks as user audio.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

import anyio
import anyio.lowlevel

from .base import InputTransport
from .output import OutputTransport
from .pacing import Clock, Doorbell

__all__ = ["MemoryInput", "MemoryOutput", "VirtualClock"]


class VirtualClock:
    """A clock that jumps to each deadline instead of waiting for it.

    ``jitter`` (seconds) adds a uniform random lateness in ``[0, jitter]`` to every
    wake-up, from a generator seeded with ``seed``.  :meth:`gate` holds the first sleeper
    whose deadline reaches ``at``: the time is set to ``now`` (default ``at``), and the
    sleeper waits until :meth:`release`; :attr:`gated` is set when it is held.
    """

    def __init__(self, *, jitter: float = 0.0, seed: int = 0) -> None:
        self.t = 0.0
        self.jitter = jitter
        self._rng = random.Random(seed)
        self._gate_at: float | None = None
        self._gate_now = 0.0
        self.gated = anyio.Event()
        self._release = anyio.Event()

    def now(self) -> float:
        return self.t

    def gate(self, at: float, now: float | None = None) -> None:
        self._gate_at = at
        self._gate_now = at if now is None else now
        self.gated = anyio.Event()
        self._release = anyio.Event()

    def release(self) -> None:
        self._gate_at = None
        self._release.set()

    async def sleep_until(self, deadline: float) -> None:
        if self._gate_at is not None and deadline >= self._gate_at - 1e-9:
            self.t = max(self.t, self._gate_now)
            self.gated.set()
            await self._release.wait()
        late = self._rng.uniform(0.0, self.jitter) if self.jitter else 0.0
        self.t = max(self.t, deadline + late)
        await anyio.lowlevel.checkpoint()

    async def wait_bell(self, bell: Doorbell, deadline: float) -> bool:
        """Let the other tasks run; if nobody rings ``bell``, time jumps to ``deadline``."""
        await anyio.lowlevel.checkpoint()
        if not bell.rung:
            await self.sleep_until(deadline)
        return bell.answer()


class MemoryOutput(OutputTransport):
    """Output half that keeps what it plays: ``chunks`` of ``(release time, bytes)``."""

    def __init__(
        self,
        *,
        realtime: bool = True,
        clock: Clock | None = None,
        chunk_ms: float = 20.0,
        sample_rate: int | None = None,
        stop_grace: float = 0.2,
        lead_ms: float | None = None,
        forward_audio: bool = False,
        name: str | None = None,
    ) -> None:
        super().__init__(
            chunk_ms=chunk_ms,
            lead_ms=lead_ms,
            realtime=realtime,
            clock=clock,
            sample_rate=sample_rate,
            stop_grace=stop_grace,
            forward_audio=forward_audio,
            name=name,
        )
        self.chunks: list[tuple[float, bytes]] = []

    async def write_audio(self, chunk: bytes) -> None:
        self.chunks.append((self.pacer.clock.now(), chunk))

    @property
    def audio(self) -> bytes:
        return b"".join(chunk for _, chunk in self.chunks)


class MemoryInput(InputTransport):
    """Input half that pushes the given PCM16 blocks (at the pipeline's input rate)."""

    def __init__(self, blocks: Iterable[bytes], *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.blocks = list(blocks)

    async def read(self) -> None:
        for block in self.blocks:
            await self.push_audio(block, self.sample_rate)
