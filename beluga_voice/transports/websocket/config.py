"""What a :class:`~.server.WebSocketServer` listens on and allows: :class:`ServerConfig`.

Kept apart from the server so the engines (:mod:`.engines`, :mod:`.picows_engine`) and the
HTTP side (:mod:`.handshake`) read their settings without importing the session code.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from pydantic import SecretStr

from ...secrets import register_secret

__all__ = ["MIN_TOKEN_LENGTH", "Engine", "ServerConfig", "resolve_engine"]

MIN_TOKEN_LENGTH: Final = 16
"""Shortest bearer token a server on a non-loopback address accepts (a guessable token on
an open port is no protection)."""

Engine = Literal["auto", "picows", "websockets"]
"""The WebSocket implementation a server runs on (see :attr:`ServerConfig.engine`)."""


def resolve_engine(engine: str) -> Literal["picows", "websockets"]:
    """The engine ``engine`` names: ``auto`` is picows when it is importable."""
    has_picows = importlib.util.find_spec("picows") is not None
    if engine == "auto":
        return "picows" if has_picows else "websockets"
    if engine not in ("picows", "websockets"):
        raise ValueError(f"unknown WebSocket engine {engine!r}: auto, picows, websockets")
    if engine == "picows" and not has_picows:
        raise ValueError("the picows engine is not installed: pip install picows")
    return engine  # type: ignore[return-value]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(slots=True)
class ServerConfig:
    """Where to listen and what to allow.  See the module docstring."""

    host: str = "127.0.0.1"
    port: int = 0
    token: SecretStr | str | None = field(default=None, repr=False)
    """The bearer token clients must send; a ``str`` is wrapped in a ``SecretStr``."""
    allowed_origins: Sequence[str] | None = None
    max_message_bytes: int = 256 * 1024
    max_sessions: int = 100
    idle_timeout: float | None = 60.0
    ssl: ssl.SSLContext | None = None
    input_sample_rate: int = 16000
    output_sample_rate: int = 24000
    chunk_ms: float = 20.0
    lead_ms: float = 100.0
    """How far ahead of playback audio may be sent: the client's jitter buffer (it must drop
    it on ``interrupted``).  Network jitter up to this much costs no added latency."""
    realtime: bool = True
    """Pace output at playback speed (False: send as fast as produced, for tests and files)."""
    stop_timeout: float = 2.0
    max_protocol_errors: int = 20
    max_events_per_s: float = 20.0
    """Client events (not audio) per second, with a burst of twice that; beyond it each is
    refused with an ``error`` (``rate_limited``), and counts as a protocol error."""
    max_audio_speed: float = 3.0
    """How much faster than real time a client may send audio once ``audio_burst_s`` is
    spent; faster audio is read later (backpressure), never dropped."""
    audio_burst_s: float = 10.0
    send_timeout: float = 10.0
    """A client whose connection has not taken a message for this long is dropped."""
    max_buffer_s: float = 10.0
    """Bot audio waiting to be sent, at most (backpressure on the pipeline beyond it)."""
    serve_client_page: bool = True
    """Answer a plain ``GET /`` or ``/client`` with the browser client (see :mod:`.page`)."""
    reuse_port: bool = False
    """Share the port with other processes (SO_REUSEPORT: the kernel spreads connections)."""
    engine: Engine = "auto"
    """The WebSocket implementation: ``picows`` (frames parsed in C: about a third of the
    server CPU per session of ``websockets``, see docs/transports.md), ``websockets`` (pure
    Python, the fallback), or ``auto``: picows when it is installed."""
    close_timeout: float = 10.0
    """Seconds a close handshake may take before the connection is dropped."""

    def __setattr__(self, name: str, value: object) -> None:
        # A token is kept secret and redacted from logs whenever it is set, not only at
        # creation: a server's token may be rotated on a live config.
        if name == "token" and value is not None:
            secret = value if isinstance(value, SecretStr) else SecretStr(str(value))
            register_secret(secret.get_secret_value())
            value = secret
        object.__setattr__(self, name, value)

    def __post_init__(self) -> None:
        if not _is_loopback(self.host):
            token = self.token.get_secret_value() if isinstance(self.token, SecretStr) else ""
            if len(token.strip()) < MIN_TOKEN_LENGTH:
                raise ValueError(
                    f"a token is required (at least {MIN_TOKEN_LENGTH} characters) to listen "
                    f"on the non-loopback address {self.host!r}"
                )
        if self.max_sessions < 1 or self.max_message_bytes < 1:
            raise ValueError("max_sessions and max_message_bytes must be positive")
        resolve_engine(self.engine)  # an unknown name fails here, not at start
        if self.reuse_port and not hasattr(socket, "SO_REUSEPORT"):
            raise ValueError("SO_REUSEPORT is not available on this platform: run one worker")
