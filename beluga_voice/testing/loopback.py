"""The part every fake WebSocket service shares: a ``websockets`` server on loopback.

A fake subclasses :class:`LoopbackServer` and provides ``_check`` (the handshake: path,
credentials, injected refusals), ``_handle`` (one connection) and ``records`` (what
clients did).  It gets port 0 by default (tests never collide), an async context manager
with a bounded shutdown, and :meth:`wait_until`, which lets a test wait for a condition on
the records without sleeping: handlers call :meth:`notify` after each client event.
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Self

import anyio
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

__all__ = ["LoopbackServer", "quiet_logger"]

_BEARER = re.compile(r"(?i)(bearer\s+)\S+")


class _HideTokens(logging.Filter):
    """A fake logs handshakes like a real server: without the bearer tokens."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _BEARER.sub(r"\1***", record.getMessage())
        record.args = None
        return True


def quiet_logger(name: str) -> logging.Logger:
    """The logger ``name``, with bearer tokens scrubbed from its records (added once)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, _HideTokens) for f in logger.filters):
        logger.addFilter(_HideTokens())
    return logger


class LoopbackServer(ABC):
    """See the module docstring.  ``logger`` receives the server's own log lines."""

    records: Any

    def __init__(self, *, host: str, port: int, logger: logging.Logger) -> None:
        self.host = host
        self.port = port
        self._logger = logger
        self._server: Server | None = None
        self._changed = anyio.Event()

    @abstractmethod
    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        """Accept the handshake (None) or answer it with an HTTP response."""

    @abstractmethod
    async def _handle(self, ws: ServerConnection) -> None:
        """Serve one connection."""

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._check,
            max_size=None,
            logger=self._logger,
        )
        self.port = next(iter(self._server.sockets)).getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with anyio.move_on_after(5):
                await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        with anyio.CancelScope(shield=True):
            await self.stop()

    def notify(self) -> None:
        """Wake :meth:`wait_until` callers: a client event was handled."""
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_until(self, predicate: Callable[[Any], bool]) -> None:
        """Return once ``predicate(records)`` holds (checked after each client event)."""
        while not predicate(self.records):
            await self._changed.wait()
