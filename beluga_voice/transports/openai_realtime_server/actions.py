"""What the protocol core asks its shell to do with the backend session.

The core never touches a socket or a provider: it returns these, in order, and the
shell carries them out (see :mod:`.server`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Action",
    "CloseConnection",
    "EndTurn",
    "Interrupt",
    "OpenBackend",
    "SendAudio",
    "SendText",
    "SendToolResult",
    "Speak",
]


@dataclass(frozen=True, slots=True)
class OpenBackend:
    """(Re)open the backend session with :meth:`RealtimeServerCore.backend_settings`; then
    call :meth:`~RealtimeServerCore.backend_opened` or
    :meth:`~RealtimeServerCore.backend_failed`."""


@dataclass(frozen=True, slots=True)
class SendAudio:
    pcm: bytes
    """PCM16 mono at the backend's input rate."""


@dataclass(frozen=True, slots=True)
class SendText:
    text: str


@dataclass(frozen=True, slots=True)
class SendToolResult:
    call_id: str
    output: str


@dataclass(frozen=True, slots=True)
class EndTurn:
    """The user's turn is complete (the client committed the audio buffer)."""


@dataclass(frozen=True, slots=True)
class Interrupt:
    played_ms: float | None = None
    """How much of the last reply the user heard (a truncation), or None (cancel only)."""


@dataclass(frozen=True, slots=True)
class Speak:
    text: str


@dataclass(frozen=True, slots=True)
class CloseConnection:
    code: int
    reason: str


Action = (
    OpenBackend
    | SendAudio
    | SendText
    | SendToolResult
    | EndTurn
    | Interrupt
    | Speak
    | CloseConnection
)
