"""The providers' WebSocket opener; it lives in :mod:`beluga_voice.wire` (the ground
floor), where the cascade's streaming STT and TTS clients use it too."""

from ..wire import RedactFilter, open_websocket, redacting_logger

__all__ = ["RedactFilter", "open_websocket", "redacting_logger"]
