"""What the runner hands each processor as it starts: one explicit object, not fields
set from outside.

A :class:`~beluga_voice.pipeline.FrameProcessor` knows its neighbours from the composition
(``Pipeline`` links it) and everything else about the run from its :class:`Setup`: where
its background tasks live, who watches what it pushes, where its errors are noted, how
long its cleanup may take, whether idle it takes frames directly, and whom to tell when it
parks.  :class:`~beluga_voice.pipeline.PipelineTask` makes one per run and gives it to
every processor; a wrapping processor (``pipeline/hosted.py``) gives its inner processor a
copy with the differences a hosted processor needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from ..frames import ErrorFrame
    from .observer import FrameObserver

__all__ = ["Setup"]


@dataclass(frozen=True, slots=True)
class Setup:
    """The run a processor is part of; see the module docstring."""

    task_group: TaskGroup
    """Owns the processor's task and what it starts with ``create_task``."""
    observers: tuple[FrameObserver, ...] = ()
    """Called on every push (metrics, tests); never allowed to break the pipeline."""
    report_error: Callable[[ErrorFrame], None] | None = None
    """Notes an error at once, before its frame travels upstream (the runner's record)."""
    cleanup_timeout: float = 1.0
    """Bound of the processor's ``on_cleanup``, which runs shielded on every exit path."""
    direct_handoff: bool = True
    """False makes every frame queue, whatever the processor's own ``direct_handoff``."""
    on_idle: Callable[[], None] | None = None
    """Called each time the processor parks on an empty inbox (the runner waits on it for
    the pipeline to settle as a run ends, without polling)."""
