"""Agents (external reasoning) and tools."""

from .base import Agent
from .echo import EchoAgent
from .openai_compat import OpenAICompatAgent
from .rules import RuleAgent
from .tools import Tool, ToolRegistry

__all__ = ["Agent", "EchoAgent", "OpenAICompatAgent", "RuleAgent", "Tool", "ToolRegistry"]
