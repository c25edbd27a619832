"""A probe of the asyncio internals the direct hand-off relies on (``pipeline/handoff.py``).

The hand-off runs a receiving processor's handler inside the pushing task's step, as the
receiver: it marks the receiver's task as the running one with ``asyncio.tasks._leave_task``
and ``_enter_task``, the hooks asyncio's own tasks call around every step.  They are
private, so a CPython release may change them; ``handoff.turn_for`` then turns hand-off off
(frames queue), which is safe but slow, and silent.  This probe says what changed, so CI on
every Python we claim (3.11, 3.12, 3.13) fails at once instead.

It needs only the standard library, so it also runs as a script on any interpreter:
``python tests/_asyncio_hooks.py`` prints one line per promise and exits 1 if one fails.
"""

from __future__ import annotations

import asyncio
import asyncio.tasks
import sys
from collections.abc import Callable
from typing import Any

Check = tuple[str, bool]


async def probe_running_loop() -> list[Check]:
    """Run inside a task of the loop under test; return (promise, held) pairs."""
    loop = asyncio.get_running_loop()
    enter: Callable[..., Any] | None = getattr(asyncio.tasks, "_enter_task", None)
    leave: Callable[..., Any] | None = getattr(asyncio.tasks, "_leave_task", None)
    checks: list[Check] = [
        ("asyncio.tasks has _enter_task and _leave_task", enter is not None and leave is not None)
    ]
    if enter is None or leave is None:
        return checks
    me = asyncio.current_task()
    assert me is not None
    parked = asyncio.Event()
    release = asyncio.Event()

    async def other_body() -> None:
        parked.set()
        await release.wait()

    other = loop.create_task(other_body())
    await parked.wait()  # the other task is suspended, as a parked processor is

    seen: dict[str, object] = {}
    leave(loop, me)
    try:
        enter(loop, other)
        try:
            seen["current"] = asyncio.current_task()
            seen["current(loop)"] = asyncio.current_task(loop)
            seen["all_tasks has it"] = other in asyncio.all_tasks(loop)
        finally:
            leave(loop, other)
    finally:
        enter(loop, me)
    checks.append(("switching makes current_task() the entered task", seen["current"] is other))
    checks.append(("current_task(loop) agrees", seen["current(loop)"] is other))
    checks.append(("switching back restores the pusher", asyncio.current_task() is me))

    # The hooks still guard their invariants: entering over a running task is refused, and
    # leaving a task that is not the running one is refused.  The hand-off depends on
    # always leaving first; if these stopped checking, a bug there would go unnoticed.
    try:
        enter(loop, other)
    except RuntimeError:
        refused_enter = True
    else:  # pragma: no cover - only on a changed asyncio
        refused_enter = False
        leave(loop, other)
    checks.append(("entering while another task runs is refused", refused_enter))
    try:
        leave(loop, other)
    except RuntimeError:
        refused_leave = True
    else:  # pragma: no cover - only on a changed asyncio
        refused_leave = False
        enter(loop, me)
    checks.append(("leaving a task that is not running is refused", refused_leave))
    checks.append(("the pusher is still the running task", asyncio.current_task() is me))

    # A coroutine stepped by hand while switched sees the entered task, and a Future it
    # awaits is bound to the loop: what the hand-off's ``step`` and ``Rest`` rely on.
    async def handler() -> object:
        task = asyncio.current_task()
        await asyncio.sleep(0)
        return task

    coro = handler()
    leave(loop, me)
    enter(loop, other)
    try:
        yielded = coro.send(None)
    finally:
        leave(loop, other)
        enter(loop, me)
    checks.append(
        ("a hand-stepped coroutine yields to its task (sleep(0) yields None)", yielded is None)
    )
    try:
        coro.send(None)
    except StopIteration as stop:
        checks.append(("a hand-stepped coroutine saw the entered task", stop.value is other))
    else:  # pragma: no cover
        coro.close()
        checks.append(("a hand-stepped coroutine saw the entered task", False))

    release.set()
    await other
    return checks


def probe(loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None) -> list[Check]:
    """Run :func:`probe_running_loop` on a fresh loop (``loop_factory``'s, or asyncio's)."""
    loop = loop_factory() if loop_factory is not None else asyncio.new_event_loop()
    try:
        return loop.run_until_complete(probe_running_loop())
    finally:
        loop.close()


def main() -> int:
    checks = probe()
    version = sys.version.split()[0]
    for promise, held in checks:
        print(f"{version}: {'ok  ' if held else 'FAIL'} {promise}")
    return 0 if all(held for _, held in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
