"""Tools: functions a model or an agent may call, described by a JSON schema."""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Tool", "ToolRegistry", "tool_error"]

ToolHandler = Callable[..., Any | Awaitable[Any]]


def tool_error(message: str) -> str:
    """A failed call's answer, as the model should hear it: a JSON ``{"error": ...}``."""
    return json.dumps({"error": message})


@dataclass(slots=True)
class Tool:
    """A callable tool.  ``parameters`` is a JSON schema object of its keyword arguments."""

    name: str
    description: str
    handler: ToolHandler
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})

    def schema(self) -> dict[str, Any]:
        """The function definition most providers take (OpenAI-style flat shape)."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
        }

    async def call(self, arguments: dict[str, Any]) -> str:
        """Run the handler; the result is returned as text (JSON for non-strings)."""
        result = self.handler(**arguments)
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
        except Exception as exc:
            return tool_error(f"{type(exc).__name__}: {exc}")
