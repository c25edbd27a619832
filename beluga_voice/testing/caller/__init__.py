"""Scripted callers: test a voice agent the way a user talks to it (see docs/testing.md)."""

from .caller import Caller, CallerError
from .clock import RealClock, VirtualClock, settle
from .targets import Heard, PipelineTarget, Target, WebSocketTarget
from .turns import Reply, Turn

__all__ = [
    "Caller",
    "CallerError",
    "Heard",
    "PipelineTarget",
    "RealClock",
    "Reply",
    "Target",
    "Turn",
    "VirtualClock",
    "WebSocketTarget",
    "settle",
]
