"""Agents (external reasoning) and tools."""

from .base import Agent
from .tools import Tool, ToolRegistry

__all__ = ["Agent", "Tool", "ToolRegistry"]
