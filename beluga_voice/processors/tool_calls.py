"""Tool calls of a live session, run beside its event reader rather than inside it.

A provider asks for a tool and then keeps talking: a barge-in, the user's transcript, an
error may all arrive while the tool runs.  Awaiting the tool inside the loop that reads
the session's events would hide all of them until the tool returned (and a tool that
never returns would freeze the session).  So each call runs as a task of its own, owned
by the processor's task group, with:

* a **deadline** per call (``timeout``): a call not answered in time is cancelled and the
  provider hears an error result saying so, so the model can tell the user;
* a **bound** on calls in flight (``limit``): a call beyond it is refused at once with an
  error result (the overflow policy: answer now, never queue without end or drop);
* **cancellation** on barge-in (the provider hears that the call was cancelled: every
  call gets exactly one answer, which is what providers that wait for all the answers of
  a reply before going on need), on the provider's own cancellation (no answer: the
  provider has forgotten the call) and at the end of the session (no answer: nobody is
  left to hear it).

Every outcome reaches the application as a ``ToolResultFrame`` downstream; a timeout or a
refusal also as an ``ErrorFrame`` upstream.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import anyio

from ..agents.tools import ToolRegistry, tool_error
from ..frames import ToolCallFrame, ToolResultFrame
from ..pipeline.processor import FrameProcessor
from ..providers.errors import ErrorCode
from ..providers.events import ToolCall

__all__ = ["ToolCalls"]

log = logging.getLogger("beluga_voice.tools")

SendResult = Callable[[str, str], Awaitable[None]]


@dataclass(slots=True)
class _Run:
    call: ToolCall
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    reason: str | None = None
    """Why it was cancelled, when the provider is to hear it (None: no answer)."""


class ToolCalls:
    """The tool calls in flight for ``processor``'s session; see the module docstring.

    ``send`` gives the provider a call's answer (``call_id, output``).
    """

    def __init__(
        self,
        processor: FrameProcessor,
        tools: ToolRegistry,
        send: SendResult,
        *,
        timeout: float,
        limit: int,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"tool_timeout must be positive, got {timeout}")
        if limit < 1:
            raise ValueError(f"max_tool_calls must be at least 1, got {limit}")
        self.processor = processor
        self.tools = tools
        self.send = send
        self.timeout = timeout
        self.limit = limit
        self._runs: dict[str, _Run] = {}

    @property
    def in_flight(self) -> int:
        return len(self._runs)

    async def start(self, call: ToolCall) -> None:
        """Announce ``call`` and start it beside the caller (returns at once)."""
        proc = self.processor
        await proc.push_frame(ToolCallFrame(call.call_id, call.name, call.arguments))
        if len(self._runs) >= self.limit:
            await proc.push_error(
                f"tool call {call.name!r} refused: {self.limit} calls already in flight",
                code=ErrorCode.RATE_LIMIT.value,
            )
            await self._answer(call, tool_error(f"too many tool calls in flight ({self.limit})"))
            return
        run = self._runs[call.call_id] = _Run(call)
        proc.create_task(self._run, run, name=f"{proc.name}.tool.{call.name}")

    def cancel(self, call_ids: Iterable[str] | None = None, *, reason: str | None = None) -> None:
        """Cancel the calls named (all when None); ``reason`` is what the provider hears
        (None: it hears nothing)."""
        ids = list(self._runs) if call_ids is None else call_ids
        for call_id in ids:
            run = self._runs.get(call_id)
            if run is not None and not run.scope.cancel_called:
                run.reason = reason
                run.scope.cancel()

    async def _run(self, run: _Run) -> None:
        call = run.call
        started = time.monotonic()
        output: str | None = None
        try:
            with run.scope, anyio.move_on_after(self.timeout):
                output = await self.tools.call(call.name, call.arguments)
        finally:
            self._runs.pop(call.call_id, None)
        if run.scope.cancel_called:
            if run.reason is not None:
                await self._answer(call, tool_error(f"cancelled: {run.reason}"))
            return
        if output is None:
            await self.processor.push_error(
                f"tool {call.name!r} did not answer within {self.timeout:g} s",
                code=ErrorCode.TIMEOUT.value,
            )
            output = tool_error(f"no answer within {self.timeout:g} s")
        log.debug("tool %s answered in %.1f ms", call.name, 1000 * (time.monotonic() - started))
        await self._answer(call, output)

    async def _answer(self, call: ToolCall, output: str) -> None:
        await self.processor.push_frame(ToolResultFrame(call.call_id, output))
        await self.send(call.call_id, output)
