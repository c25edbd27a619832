"""What the OpenAI-compatible server talks to: any S2S provider, built per session settings.

A :class:`Backend` opens one provider session per client connection.  The usual one,
:class:`ProviderBackend`, builds the named provider through the registry with the
client's session settings translated into that provider's own ``provider_specific``
keys (instructions, voice, tools, turn detection), wrapped as the config says (retry,
fallback, metrics: :func:`~beluga_voice.providers.wrap.wrap_provider`).  So the same
server fronts the offline ``local`` provider, Gemini, Nova, Grok, GPT-Live, or OpenAI itself (a
proxy that adds retry, fallback and metrics), and the STT -> agent -> TTS cascade
through :class:`~beluga_voice.providers.local.LocalS2SProvider` built with any
recogniser, agent and voice (pass it as ``provider=``).

A fixed ``provider=`` instance is used as it is: its own settings decide instructions,
voice, tools and turn detection (the client's are recorded and echoed, not applied).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ...conversation import ConversationContext
from ...providers.base import S2SProvider, StreamingSession
from ...providers.config import S2SConfig, with_provider_specific
from ...providers.registry import new_provider
from .session import BackendSettings

__all__ = ["Backend", "BackendSession", "ProviderBackend", "provider_settings"]


@dataclass(slots=True)
class BackendSession:
    """An open backend session and the PCM16 rate it takes."""

    session: StreamingSession
    input_rate: int
    tools: bool = True
    """Whether the backend can call the client's tools (a client that sends tools to one
    that cannot is told so)."""


class Backend(Protocol):
    """Opens the backend session of one client connection."""

    async def open(self, settings: BackendSettings, context: ConversationContext) -> BackendSession:
        """Open a session configured by ``settings``, carrying ``context``'s history."""
        ...


_GROK_VOICES = frozenset({"eve", "ara", "rex", "sal", "leo"})


def _realtime(s: BackendSettings, name: str) -> dict[str, Any]:
    grok = name == "grok"
    # Grok documents neither tool_choice nor a reply the user cannot interrupt: those
    # OpenAI settings are left out for it (its behaviour is tool_choice auto, interruptible).
    out: dict[str, Any] = {} if grok else {"tool_choice": s.tool_choice}
    if s.instructions is not None:
        out["instructions"] = s.instructions
    if s.voice and (not grok or s.voice in _GROK_VOICES):
        out["voice"] = s.voice
    td = s.turn_detection
    if td is None:
        out["vad"] = "none"
    else:
        out["vad"] = "server_vad" if grok else td["type"]
        if not grok:
            out["vad_interrupt_response"] = bool(td.get("interrupt_response", True))
        if td["type"] == "server_vad":
            out["vad_threshold"] = td.get("threshold")
            out["vad_prefix_padding_ms"] = td.get("prefix_padding_ms")
            out["vad_silence_duration_ms"] = td.get("silence_duration_ms")
        elif not grok:
            out["vad_eagerness"] = td.get("eagerness")
    out["tools"] = [_tool(t, "parameters") for t in s.tools]
    return out


def _tool(tool: dict[str, Any], schema_key: str) -> dict[str, Any]:
    return {
        "name": tool["name"],
        "description": tool.get("description") or "",
        schema_key: tool.get("parameters") or {"type": "object", "properties": {}},
    }


def _live(s: BackendSettings, name: str) -> dict[str, Any]:
    """GPT-Live decides turns itself (full duplex), and its tools belong to the Responses
    model the operator configures: instructions and voice only."""
    out: dict[str, Any] = {}
    if s.instructions is not None:
        out["instructions"] = s.instructions
    if s.voice:
        out["voice"] = s.voice
    return out


def _gemini(s: BackendSettings, name: str) -> dict[str, Any]:
    out: dict[str, Any] = {"tools": [_tool(t, "parameters") for t in s.tools]}
    if s.instructions is not None:
        out["system_instruction"] = s.instructions
    td = s.turn_detection
    out["activity_detection"] = "manual" if td is None else "automatic"
    if td is not None and td.get("silence_duration_ms") is not None:
        out["silence_duration_ms"] = td["silence_duration_ms"]
    return out


def _nova(s: BackendSettings, name: str) -> dict[str, Any]:
    out: dict[str, Any] = {"tools": [_tool(t, "input_schema") for t in s.tools]}
    if s.instructions is not None:
        out["system_prompt"] = s.instructions
    return out


def _local(s: BackendSettings, name: str) -> dict[str, Any]:
    td = s.turn_detection
    out: dict[str, Any] = {"turn_detection": "client" if td is None else "server"}
    if s.instructions is not None:
        out["system_prompt"] = s.instructions
    if td is not None and td.get("silence_duration_ms") is not None:
        out["silence_ms"] = min(5000, max(100, int(td["silence_duration_ms"])))
    return out


_ADAPTERS: dict[str, Callable[[BackendSettings, str], dict[str, Any]]] = {
    "openai_realtime": _realtime,
    "grok": _realtime,
    "openai_live": _live,
    "gemini": _gemini,
    "amazon_nova": _nova,
    "local": _local,
}


def provider_settings(name: str, settings: BackendSettings) -> dict[str, Any]:
    """The ``provider_specific`` keys that carry the client's settings to provider ``name``
    (none for providers without an adapter, such as ``mock`` or third-party ones)."""
    adapt = _ADAPTERS.get(name)
    if adapt is None:
        return {}
    return {k: v for k, v in adapt(settings, name).items() if v is not None}


class ProviderBackend:
    """See the module docstring.

    Providers built for distinct settings are kept (at most ``cache_size``, least recently
    used first out), so that every connection with the same settings shares one provider
    and its concurrent-session limit.
    """

    def __init__(
        self,
        name: str = "local",
        config: S2SConfig | None = None,
        *,
        provider: S2SProvider | None = None,
        resilient: bool = True,
        cache_size: int = 16,
    ) -> None:
        self.name = provider.name if provider is not None else name
        self.config = config or (
            provider.config if provider is not None else S2SConfig(provider=name)
        )
        self.fixed = provider
        self.resilient = resilient
        self.cache_size = cache_size
        self._cache: OrderedDict[str, S2SProvider] = OrderedDict()

    def provider_for(self, settings: BackendSettings) -> S2SProvider:
        if self.fixed is not None:
            return self.fixed
        specific = provider_settings(self.name, settings)
        key = json.dumps(specific, sort_keys=True, default=str)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        # Wrapped as the config says unless told not to; every provider made here shares
        # the config's session limit, so max_concurrent_sessions holds for the server.
        provider = new_provider(
            self.name, self.config, with_provider_specific(**specific), wrap=self.resilient
        )
        self._cache[key] = provider
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return provider

    async def open(self, settings: BackendSettings, context: ConversationContext) -> BackendSession:
        provider = self.provider_for(settings)
        rates = provider.capabilities.input_sample_rates
        rate = 24000 if 24000 in rates else rates[0]
        session = await provider.start_streaming(context)
        return BackendSession(session, rate, tools=provider.capabilities.tools)
