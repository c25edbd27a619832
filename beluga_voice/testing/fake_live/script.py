"""What a fake GPT-Live server says after each user turn.

``Reply`` (the model answers by itself: audio and its transcript) is the realtime fake's.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..fake_realtime.script import Reply

__all__ = ["Delegate", "Reply", "ScriptEntry"]


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
