"""The session object a client configures, and what of it the backend must be told.

The session is kept in the shape OpenAI sends in ``session.created`` / ``session.updated``
(the SDK's ``RealtimeSessionCreateRequest``), and updated by merging each
``session.update``.  :class:`BackendSettings` is the part a backend is opened with
(instructions, voice, tools, turn detection): when it changes, the backend session is
reopened with the conversation so far.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from .audio import WireFormat
from .schema import SessionConfig

__all__ = ["BackendSettings", "SessionState"]

_SERVER_VAD_DEFAULTS: dict[str, Any] = {
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 500,
    "create_response": True,
    "interrupt_response": True,
}
_SEMANTIC_VAD_DEFAULTS: dict[str, Any] = {
    "eagerness": "auto",
    "create_response": True,
    "interrupt_response": True,
}


@dataclass(slots=True)
class BackendSettings:
    """What a backend session is opened with; see :mod:`.backend`."""

    instructions: str | None = None
    voice: str | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: str = "auto"
    turn_detection: dict[str, Any] | None = None
    """``None``: the client commits each turn (``turn_detection: null``)."""


class SessionState:
    """The current session configuration, in OpenAI's shape."""

    def __init__(self, model: str, voice: str) -> None:
        self.data: dict[str, Any] = {
            "type": "realtime",
            "model": model,
            "instructions": "",
            "output_modalities": ["audio"],
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": None,
                    "noise_reduction": None,
                    "turn_detection": {"type": "server_vad", **_SERVER_VAD_DEFAULTS},
                },
                "output": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "voice": voice,
                    "speed": 1.0,
                },
            },
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "tracing": None,
        }

    def merged(self, update: SessionConfig) -> SessionState:
        """A copy with ``update`` applied (fields it sets replace ours; ``null`` clears)."""
        new = copy.copy(self)
        new.data = data = copy.deepcopy(self.data)
        given = update.model_dump(exclude_unset=True, exclude={"audio"})
        for key, value in given.items():
            if key == "tools":
                value = [{k: v for k, v in t.items() if v is not None} for t in value or []]
            data[key] = value if value is not None or key in ("tracing",) else data[key]
        audio = update.audio
        if audio is not None and audio.input is not None:
            target = data["audio"]["input"]
            for key, value in audio.input.model_dump(exclude_unset=True).items():
                if key == "turn_detection" and value is not None:
                    defaults = (
                        _SERVER_VAD_DEFAULTS
                        if value["type"] == "server_vad"
                        else _SEMANTIC_VAD_DEFAULTS
                    )
                    given_td = {k: v for k, v in value.items() if v is not None}
                    value = {**defaults, **given_td}
                elif key == "format":
                    value = _format(value)
                target[key] = value
        if audio is not None and audio.output is not None:
            target = data["audio"]["output"]
            for key, value in audio.output.model_dump(exclude_unset=True).items():
                if value is not None:
                    target[key] = _format(value) if key == "format" else value
        return new

    @property
    def input_format(self) -> WireFormat:
        fmt: WireFormat = self.data["audio"]["input"]["format"]["type"]
        return fmt

    @property
    def output_format(self) -> WireFormat:
        fmt: WireFormat = self.data["audio"]["output"]["format"]["type"]
        return fmt

    @property
    def turn_detection(self) -> dict[str, Any] | None:
        td: dict[str, Any] | None = self.data["audio"]["input"]["turn_detection"]
        return td

    @property
    def voice(self) -> str:
        return str(self.data["audio"]["output"]["voice"])

    def backend_settings(self) -> BackendSettings:
        choice = self.data["tool_choice"]
        return BackendSettings(
            instructions=self.data["instructions"] or None,
            voice=self.voice,
            tools=copy.deepcopy(self.data["tools"]),
            tool_choice=choice if isinstance(choice, str) else "required",
            turn_detection=copy.deepcopy(self.turn_detection),
        )

    def snapshot(self) -> dict[str, Any]:
        """The session as sent to the client (a copy: events must not alias state)."""
        return copy.deepcopy(self.data)


def _format(value: dict[str, Any]) -> dict[str, Any]:
    if value["type"] == "audio/pcm":
        return {"type": "audio/pcm", "rate": 24000}
    return {"type": value["type"]}
