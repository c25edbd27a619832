"""Composition: sequences, parallel branches and routing.

Compositions own no task of their own except the two small processors at the edges of a
fan-out (:class:`Parallel`, :class:`Branch`); a :class:`Pipeline` only links its children,
so nesting costs nothing per frame.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Final

from ..frames import CancelFrame, Direction, EndFrame, Frame, FrameKind, StartFrame
from .engine import inbox_of
from .inbox import Inbox
from .processor import FrameProcessor, Node, deliver

__all__ = ["Branch", "Parallel", "Pipeline"]

_DOWN: Final = Direction.DOWNSTREAM
_UP: Final = Direction.UPSTREAM
_SYNCED = (StartFrame, EndFrame, CancelFrame)


def _as_node(item: Node | Sequence[Node]) -> Node:
    if isinstance(item, Node):
        return item
    return Pipeline(list(item))


class Pipeline(Node):
    """Processors in sequence.  Pipelines nest: a pipeline is a node like a processor."""

    def __init__(self, nodes: Sequence[Node | Sequence[Node]], *, name: str | None = None) -> None:
        if not nodes:
            raise ValueError("a Pipeline needs at least one processor")
        self.nodes = [_as_node(n) for n in nodes]
        self.name = name or "Pipeline"
        self._link(None, None)

    def _leaves(self) -> Iterator[FrameProcessor]:
        for node in self.nodes:
            yield from node._leaves()

    def _down_inbox(self) -> Inbox:
        return self.nodes[0]._down_inbox()

    def _up_inbox(self) -> Inbox:
        return self.nodes[-1]._up_inbox()

    def _link(self, prev: Node | None, next_: Node | None) -> None:
        nodes = self.nodes
        for i, node in enumerate(nodes):
            node._link(
                nodes[i - 1] if i > 0 else prev,
                nodes[i + 1] if i + 1 < len(nodes) else next_,
            )


class _Expected:
    __slots__ = ("frame", "remaining", "total")

    def __init__(self, frame: Frame, n: int) -> None:
        self.frame, self.remaining, self.total = frame, n, n


class _Merge:
    """Forwards each fanned-out frame once, however many branches deliver it.

    The fan-out side registers a frame sent to ``n`` branches; the merge side forwards its
    first arrival (or, for Start / End / Cancel, its last, so that the frame leaves only
    after every branch has processed and drained up to it).  Frames a branch dropped would
    stay registered, so the table is bounded and forgets its oldest entries.
    """

    LIMIT: Final = 4096

    def __init__(self) -> None:
        self.pending: OrderedDict[int, _Expected] = OrderedDict()

    def expect(self, frame: Frame, n: int) -> None:
        self.pending[id(frame)] = _Expected(frame, n)
        if len(self.pending) > self.LIMIT:
            self.pending.popitem(last=False)

    def arrive(self, frame: Frame) -> bool:
        """True when this arrival of ``frame`` should be forwarded."""
        entry = self.pending.get(id(frame))
        if entry is None or entry.frame is not frame:
            return True
        entry.remaining -= 1
        if entry.remaining <= 0:
            del self.pending[id(frame)]
        if isinstance(frame, _SYNCED):
            return entry.remaining <= 0
        return entry.remaining == entry.total - 1


class _FanOut(FrameProcessor):
    def __init__(self, owner: _FanNode) -> None:
        super().__init__(name=f"{owner.name}.in")
        self.owner = owner
        self.merge_up = _Merge()

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if direction is _UP:
            if self.merge_up.arrive(frame):
                await self.push_frame(frame, _UP)
            return
        targets = self.owner._targets(frame)
        if targets is None:  # no branch wants it: pass it around the branches
            await deliver(inbox_of(self.owner._fan_in), frame, _DOWN)
            return
        if len(targets) > 1:
            self.owner._fan_in.merge_down.expect(frame, len(targets))
        for inbox in targets:
            await deliver(inbox, frame, _DOWN)


class _FanIn(FrameProcessor):
    def __init__(self, owner: _FanNode) -> None:
        super().__init__(name=f"{owner.name}.out")
        self.owner = owner
        self.merge_down = _Merge()

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if direction is _DOWN:
            if self.merge_down.arrive(frame):
                await self.push_frame(frame, _DOWN)
            return
        branches = self.owner.branches
        if len(branches) > 1:
            self.owner._fan_out.merge_up.expect(frame, len(branches))
        for branch in branches:
            await deliver(branch._up_inbox(), frame, _UP)


class _FanNode(Node):
    def __init__(self, branches: Sequence[Node | Sequence[Node]], name: str) -> None:
        if not branches:
            raise ValueError(f"{type(self).__name__} needs at least one branch")
        self.name = name
        self.branches = [_as_node(b) for b in branches]
        self._fan_out = _FanOut(self)
        self._fan_in = _FanIn(self)
        for branch in self.branches:
            branch._link(self._fan_out, self._fan_in)

    def _targets(self, frame: Frame) -> list[Inbox] | None:
        raise NotImplementedError  # pragma: no cover - abstract

    def _leaves(self) -> Iterator[FrameProcessor]:
        yield self._fan_out
        for branch in self.branches:
            yield from branch._leaves()
        yield self._fan_in

    def _down_inbox(self) -> Inbox:
        return inbox_of(self._fan_out)

    def _up_inbox(self) -> Inbox:
        return inbox_of(self._fan_in)

    def _link(self, prev: Node | None, next_: Node | None) -> None:
        self._fan_out._link(prev, None)  # it delivers to the branches itself
        self._fan_in._link(None, next_)  # it delivers to the branches itself


class Parallel(_FanNode):
    """Every frame goes to every branch; the outputs merge into one stream.

    A frame object that several branches pass on unchanged leaves once.  Start, End and
    Cancel leave only when every branch delivered them, so End means all branches drained.
    """

    def __init__(
        self, branches: Sequence[Node | Sequence[Node]], *, name: str = "Parallel"
    ) -> None:
        super().__init__(branches, name)

    def _targets(self, frame: Frame) -> list[Inbox]:
        return [b._down_inbox() for b in self.branches]


class Branch(_FanNode):
    """Routes each data frame to the first branch whose predicate accepts it.

    System and control frames go to every branch (and merge as in :class:`Parallel`), so
    every branch starts, ends and hears interruptions.  A data frame no predicate accepts
    goes to ``default`` if given, else around the branches, unchanged.  Predicates may
    consult live state (``lambda f: session.mode == "s2s"``): they run per frame.
    """

    def __init__(
        self,
        routes: Sequence[tuple[Callable[[Frame], bool], Node | Sequence[Node]]],
        *,
        default: Node | Sequence[Node] | None = None,
        name: str = "Branch",
    ) -> None:
        self.predicates = [pred for pred, _ in routes]
        nodes = [node for _, node in routes]
        self._has_default = default is not None
        if default is not None:
            nodes.append(default)
        super().__init__(nodes, name)

    def _targets(self, frame: Frame) -> list[Inbox] | None:
        if frame.kind is not FrameKind.DATA:
            return [b._down_inbox() for b in self.branches]
        for pred, branch in zip(self.predicates, self.branches, strict=False):
            if pred(frame):
                return [branch._down_inbox()]
        if self._has_default:
            return [self.branches[-1]._down_inbox()]
        return None
