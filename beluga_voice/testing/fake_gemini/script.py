"""What the fake Gemini server says and how it misbehaves: scripted turns and faults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...audio.turns import tone

__all__ = ["LIVE_MODELS", "FakeSessionState", "Faults", "ScriptedTurn"]


@dataclass
class ScriptedTurn:
    """One answer: ``audio`` is PCM16 mono 24 kHz; ``tool_call`` is asked for first."""

    audio: bytes = field(default_factory=lambda: tone(0.4))
    transcript: str = "Hello from the fake Gemini."
    user_transcript: str = ""
    tool_call: tuple[str, dict[str, Any]] | None = None


@dataclass
class Faults:
    """Ways to misbehave; each applies to the first connection only unless noted."""

    reject_status: int | None = None
    """Refuse every handshake with this HTTP status."""
    close_on_setup: tuple[int, str] | None = None
    close_after_chunks: tuple[int, int, str] | None = None
    """``(n, code, reason)``: close after sending n reply chunks."""
    drop_after_chunks: int | None = None
    """Abort the TCP connection (no close frame: the client sees 1006) after n chunks."""
    stall_after_chunks: int | None = None
    stall_before_setup_complete: bool = False
    malformed_after_chunks: int | None = None
    malformed_payload: str = "{this is not json"


@dataclass
class FakeSessionState:
    """What the server remembers of one logical session (what a handle resumes)."""

    audio: bytearray = field(default_factory=bytearray)
    turns: int = 0
    connections: int = 0


# The Live models the fake serves and what each refuses, from Google's model pages (read
# 2026-11-28): (proactive audio "optional" | "always" | "no", affective dialog, NON_BLOCKING
# function calls).  Anything else is "not found", as the service answers an unknown model.
LIVE_MODELS: dict[str, tuple[str, bool, bool]] = {
    "gemini-3.8-live": ("always", False, True),
    "gemini-3.8-live-extended-thinking": ("always", False, True),
    "gemini-3.1-flash-live-preview": ("no", False, False),
    "gemini-2.5-flash-native-audio-preview-12-2025": ("optional", True, True),
    "gemini-2.5-flash-native-audio-preview-09-2025": ("optional", True, True),
    "gemini-live-2.5-flash-native-audio": ("optional", True, True),
}
