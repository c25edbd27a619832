"""Tools: functions a model or an agent may call, described by a JSON schema."""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio

__all__ = ["Tool", "ToolRegistry", "tool_error"]

ToolHandler = Callable[..., Any | Awaitable[Any]]

log = logging.getLogger(__name__)


def tool_error(message: str) -> str:
    """A failed call's answer, as the model should hear it: a JSON ``{"error": ...}``."""
    return json.dumps({"error": message})


@dataclass(slots=True)
class Tool:
    """A callable tool.  ``parameters`` is a JSON schema object of its keyword arguments.

    A coroutine handler runs on the event loop; any other handler runs in a worker thread,
    because a tool is the user's code (a database query, an HTTP call with ``requests``)
    and a blocking call on the loop would stall every conversation the process holds.
    """

    name: str
    description: str
    handler: ToolHandler
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    timeout: float | None = 30.0
    """Seconds the model waits for the answer before it hears an error instead (a
    synchronous handler's thread cannot be stopped: it finishes, its result dropped)."""

    def schema(self) -> dict[str, Any]:
        """The function definition most providers take (OpenAI-style flat shape)."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
        }

    async def call(self, arguments: dict[str, Any]) -> str:
        """Run the handler within :attr:`timeout`; the result is returned as text (JSON for
        non-strings).  Raises :class:`TimeoutError` when the handler is too slow."""
        with anyio.fail_after(self.timeout):
            if inspect.iscoroutinefunction(self.handler):
                result = await self.handler(**arguments)
            else:
                run = partial(self.handler, **arguments)
                result = await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
            if inspect.isawaitable(result):
                result = await result
        return result if isinstance(result, str) else json.dumps(result)


class ToolRegistry:
    """Tools by name; answers a model's call with text, never raising into the session."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {t.name: t for t in tools}

    def add(self, tool: Tool) -> None:
        self._tools[tool.name] = tool

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def schemas(self) -> list[dict[str, Any]]:
        return [t.schema() for t in self._tools.values()]

    async def call(self, name: str, arguments: str | dict[str, Any]) -> str:
        """Call ``name``.  Unknown tools, bad JSON and handler errors come back as a JSON
        error object, which is what the model should hear, rather than as an exception."""
        tool = self._tools.get(name)
        if tool is None:
            return tool_error(f"unknown tool {name!r}")
        try:
            args = json.loads(arguments or "{}") if isinstance(arguments, str) else arguments
            if not isinstance(args, dict):
                raise ValueError("arguments must be a JSON object")
            return await tool.call(args)
        except TimeoutError:
            log.warning("tool %r gave no answer within %s s", name, tool.timeout)
            return tool_error(f"the tool {name!r} gave no answer within {tool.timeout:g} s")
        except Exception as exc:
            return tool_error(f"{type(exc).__name__}: {exc}")
