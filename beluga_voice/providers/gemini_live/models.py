"""The Live models Google documents, and what each one accepts in a setup.

Features differ per model (proactive audio, affective dialog, asynchronous tool calls), and
the service refuses a setup that asks a model for one it lacks.  The settings check them
against this table at configuration time, so the mistake is an ``invalid_config`` that
names the setting, not a closed socket.  A model missing from the table is passed through
unchecked: Google ships new ones faster than this table changes.

Read on 2026-11-28 (see docs/providers/gemini.md for the pages): ai.google.dev model pages
for ``gemini-3.8-live`` and ``gemini-3.1-flash-live-preview`` (their migration notes), the
Gemini API deprecations page and changelog, and the Vertex AI page of
``gemini-live-2.5-flash-native-audio``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CHECKED_ON",
    "DEFAULT_DEVELOPER_MODEL",
    "DEFAULT_VERTEX_MODEL",
    "MODELS",
    "SHUT_DOWN",
    "LiveModel",
    "short_name",
]

CHECKED_ON = "2026-11-28"
DEFAULT_DEVELOPER_MODEL = "gemini-3.8-live"
DEFAULT_VERTEX_MODEL = "gemini-live-2.5-flash-native-audio"


@dataclass(frozen=True, slots=True)
class LiveModel:
    """One Live model: where it is served, its status, and the features that vary."""

    vertex: bool
    status: str
    proactive_audio: Literal["optional", "always", "no"]
    """``always``: permanently on; asking for it off is an error (Gemini 3.8 Live)."""
    affective_dialog: bool
    async_tools: bool
    """Accepts ``behavior: NON_BLOCKING`` function declarations."""
    v1alpha_features: bool = False
    """Proactive audio and affective dialog need ``api_version="v1alpha"`` (Developer API)."""


MODELS: dict[str, LiveModel] = {
    "gemini-3.8-live": LiveModel(
        vertex=False,
        status="stable, released 2026-09-15; Google's recommended default",
        proactive_audio="always",
        affective_dialog=False,  # removed from the API for this model
        async_tools=True,  # NON_BLOCKING is its default
    ),
    "gemini-3.1-flash-live-preview": LiveModel(
        vertex=False,
        status="legacy preview (March 2026); Google recommends gemini-3.8-live",
        proactive_audio="no",
        affective_dialog=False,
        async_tools=False,  # function calls are synchronous only
    ),
    "gemini-2.5-flash-native-audio-preview-12-2025": LiveModel(
        vertex=False,
        status="preview, released 2025-12-12 (replaced the 09-2025 preview)",
        proactive_audio="optional",
        affective_dialog=True,
        async_tools=True,
        v1alpha_features=True,
    ),
    "gemini-live-2.5-flash-native-audio": LiveModel(
        vertex=True,
        status="generally available on Vertex AI",
        proactive_audio="optional",
        affective_dialog=True,
        async_tools=True,
    ),
}

SHUT_DOWN: dict[str, str] = {
    "gemini-2.0-flash-live-001": "2025-12-09",
    "gemini-live-2.5-flash-preview": "2025-12-09",
}
"""Live models Google has turned off (Gemini API changelog), with the date."""


def short_name(model: str) -> str:
    """``gemini-x`` from ``models/gemini-x`` or a Vertex resource name."""
    return model.rsplit("/", 1)[-1]
