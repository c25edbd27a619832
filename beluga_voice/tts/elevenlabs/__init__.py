"""ElevenLabs streaming TTS over its WebSocket input-streaming endpoint."""

from __future__ import annotations

from pydantic import SecretStr

from ..wirecore import WireCore
from ..wsreply import WebSocketTTS
from .protocol import ElevenLabsCore, ElevenLabsSettings

__all__ = ["ElevenLabsCore", "ElevenLabsSettings", "ElevenLabsTTS"]


_DEFAULTS = ElevenLabsSettings()


class ElevenLabsTTS(WebSocketTTS):
    """Speaks text as it streams in, with character alignment (so barge-in knows what was
    heard).  ``api_key`` defaults to ``ELEVENLABS_API_KEY``; ``sample_rate`` picks the
    ``pcm_<rate>`` output format; ``base_url`` points it at another host (a fake)."""

    name = "elevenlabs"

    def __init__(
        self,
        voice_id: str = _DEFAULTS.voice_id,
        *,
        api_key: str | SecretStr | None = None,
        model_id: str = _DEFAULTS.model_id,
        sample_rate: int = 24000,
        stability: float | None = None,
        similarity_boost: float | None = None,
        speed: float | None = None,
        chunk_length_schedule: tuple[int, ...] | None = None,
        base_url: str = _DEFAULTS.base_url,
        connect_timeout: float = 10.0,
        receive_timeout: float = 10.0,
    ) -> None:
        self.settings = ElevenLabsSettings(
            voice_id=voice_id,
            model_id=model_id,
            sample_rate=sample_rate,
            stability=stability,
            similarity_boost=similarity_boost,
            speed=speed,
            chunk_length_schedule=chunk_length_schedule,
            base_url=base_url,
        )
        self._set_up(api_key, "ELEVENLABS_API_KEY", sample_rate, connect_timeout, receive_timeout)

    def _headers(self) -> dict[str, str]:
        return {"xi-api-key": self.api_key.get_secret_value()}

    def _core(self) -> WireCore:
        return ElevenLabsCore(self.settings)
