"""What stands in a pipeline (:class:`Node`), where a processor pushes (:class:`Outlet`),
and how a frame is given to the processor reading an inbox (:func:`deliver`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from ..frames import Direction, Frame
from .handoff import Door, take
from .inbox import Inbox

if TYPE_CHECKING:
    from .processor import FrameProcessor

__all__ = ["Node", "Outlet", "deliver"]


async def deliver(inbox: Inbox, frame: Frame, direction: Direction) -> None:
    """Give ``frame`` to the processor reading ``inbox``: directly if it is idle, else queued."""
    door = inbox.door
    if door is not None and door.open and take(door, frame, direction):
        return
    if not inbox.put_nowait(frame, direction):
        await inbox.put(frame, direction)


class Outlet(Protocol):
    """Where a processor pushes: the next processor's :class:`Inbox`, or a host's outlet
    (``hosted.py``) for a processor run inside another."""

    @property
    def door(self) -> Door | None: ...

    def put_nowait(self, frame: Frame, direction: Direction) -> bool: ...

    async def put(self, frame: Frame, direction: Direction) -> None: ...


class Node:
    """Anything that can stand in a pipeline: a processor or a composition of them.

    A node says which leaf processor's inbox receives a frame pushed *into* it from above
    (``_down_inbox``) or from below (``_up_inbox``), and links itself between neighbours.
    """

    name: str

    def _leaves(self) -> Iterator[FrameProcessor]:
        raise NotImplementedError  # pragma: no cover - abstract

    def _down_inbox(self) -> Inbox:
        raise NotImplementedError  # pragma: no cover - abstract

    def _up_inbox(self) -> Inbox:
        raise NotImplementedError  # pragma: no cover - abstract

    def _link(self, prev: Node | None, next_: Node | None) -> None:
        raise NotImplementedError  # pragma: no cover - abstract

    def processors(self) -> list[FrameProcessor]:
        """Every leaf processor in this node, in pipeline order."""
        return list(self._leaves())
