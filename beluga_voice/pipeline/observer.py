"""Observers: watch frames pass without being able to hold the pipeline up.

An observer's :meth:`~FrameObserver.on_push` is a plain function called as a processor
pushes a frame.  It cannot ``await``, so it cannot wait on the pipeline; its exceptions are
logged and swallowed.  To consume frames asynchronously (in a test, a UI) use
:class:`QueueObserver`, which copies into a bounded stream and drops, counting, when the
reader falls behind rather than slowing the conversation down.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from ..frames import Direction, Frame

if TYPE_CHECKING:
    from .processor import FrameProcessor

__all__ = ["FrameObserver", "QueueObserver", "notify"]

log = logging.getLogger("beluga_voice.pipeline")


class FrameObserver:
    """Base observer; override :meth:`on_push`."""

    def on_push(self, source: FrameProcessor, frame: Frame, direction: Direction) -> None:
        """A processor pushes ``frame``; must return quickly and never block."""


def notify(
    observers: Iterable[FrameObserver], source: FrameProcessor, frame: Frame, direction: Direction
) -> None:
    """Tell each observer that ``source`` pushes ``frame``; an observer that raises is
    logged and skipped (it must never break the pipeline)."""
    for observer in observers:
        try:
            observer.on_push(source, frame, direction)
        except Exception:
            log.exception("observer %r failed", observer)


class QueueObserver(FrameObserver):
    """Copies pushed frames into a bounded stream for an async reader.

    ``types`` limits which frame classes are copied.  ``dropped`` counts copies lost
    because the reader was too slow.
    """

    def __init__(self, capacity: int = 1024, types: tuple[type[Frame], ...] = (Frame,)) -> None:
        self._send, self.receive = anyio.create_memory_object_stream[tuple[str, Frame, Direction]](
            capacity
        )
        self.types = types
        self.dropped = 0

    def on_push(self, source: FrameProcessor, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, self.types):
            try:
                self._send.send_nowait((source.name, frame, direction))
            except anyio.WouldBlock:
                self.dropped += 1

    @property
    def stream(self) -> MemoryObjectReceiveStream[tuple[str, Frame, Direction]]:
        return self.receive
