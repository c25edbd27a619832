"""Cartesia streaming TTS over its WebSocket (contexts, continuations, cancel)."""

from __future__ import annotations

from pydantic import SecretStr

from ..wirecore import WireCore
from ..wsreply import WebSocketTTS
from .protocol import API_VERSION, CartesiaCore, CartesiaSettings

__all__ = ["API_VERSION", "CartesiaCore", "CartesiaSettings", "CartesiaTTS"]


_DEFAULTS = CartesiaSettings()


class CartesiaTTS(WebSocketTTS):
    """Speaks text as it streams in, one context per reply, with word timestamps.
    ``api_key`` defaults to ``CARTESIA_API_KEY``; ``base_url`` points it at another host."""

    name = "cartesia"

    def __init__(
        self,
        voice_id: str = _DEFAULTS.voice_id,
        *,
        api_key: str | SecretStr | None = None,
        model_id: str = _DEFAULTS.model_id,
        sample_rate: int = 24000,
        language: str | None = "en",
        add_timestamps: bool = True,
        max_buffer_delay_ms: int | None = None,
        base_url: str = _DEFAULTS.base_url,
        version: str = API_VERSION,
        connect_timeout: float = 10.0,
        receive_timeout: float = 10.0,
    ) -> None:
        self.settings = CartesiaSettings(
            voice_id=voice_id,
            model_id=model_id,
            sample_rate=sample_rate,
            language=language,
            add_timestamps=add_timestamps,
            max_buffer_delay_ms=max_buffer_delay_ms,
            base_url=base_url,
            version=version,
        )
        self._set_up(api_key, "CARTESIA_API_KEY", sample_rate, connect_timeout, receive_timeout)

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.api_key.get_secret_value()}",
            "Cartesia-Version": self.settings.version,
        }

    def _core(self) -> WireCore:
        return CartesiaCore(self.settings)
