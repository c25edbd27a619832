"""What a fake GPT-Live server says after each user turn."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..speech import tone

__all__ = ["Delegate", "Reply", "ScriptEntry"]


@dataclass(slots=True)
class Reply:
    """The model answers by itself: PCM16 mono at the session rate, and its transcript."""

    audio: bytes = field(default_factory=lambda: tone(0.4))
    transcript: str = "Hello from the fake Live server."


@dataclass(slots=True)
class Delegate:
    """The model delegates the turn.

    It first says ``ack`` (a spoken acknowledgement, ``None`` for none), then creates a
    delegation.  With client delegation it waits for the application's commentary and
    speaks it.  With Responses delegation, ``function`` (name, JSON arguments) makes the
    backend call that function and wait for its output; ``answer`` is then spoken, with
    ``{output}`` replaced by the function's output.
    """

    ack: str | None = "One moment."
    function: tuple[str, str] | None = None
    answer: str = "{output}"
    input_tokens: int = 120
    output_tokens: int = 30


ScriptEntry = Reply | Delegate
