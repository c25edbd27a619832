"""Structured logging with the conversation's ids, and secrets redacted.

Library code logs through ``logging.getLogger("beluga_voice...")`` as usual.  This module
adds what makes those lines useful in production:

* :func:`bind_log_ids` / :func:`log_context` put ``provider``, ``model``, ``session_id``
  and ``conversation_id`` in a context variable; tasks started afterwards inherit them
  (anyio copies the context into new tasks), so every line of a session carries them;
* :class:`ContextFilter` copies those ids onto each record;
* :class:`JsonFormatter` writes one JSON object per line, and :class:`RedactingFormatter`
  plain text; both pass the final text through :func:`~beluga_voice.secrets.redact`,
  so an API key that reaches a message, an argument or a traceback never reaches the log;
* :func:`configure_logging` wires it up (``config.enable_structured_logging`` selects JSON).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any, Protocol

from ..secrets import redact


class LoggingSettings(Protocol):
    """What :func:`configure_logging` reads of a config (an ``S2SConfig`` has it)."""

    enable_structured_logging: bool


__all__ = [
    "ContextFilter",
    "JsonFormatter",
    "RedactingFormatter",
    "bind_log_ids",
    "configure_logging",
    "current_log_ids",
    "log_context",
]

ID_FIELDS = ("provider", "model", "session_id", "conversation_id")
_ids: ContextVar[dict[str, str]] = ContextVar("beluga_voice_log_ids", default={})  # noqa: B039


def current_log_ids() -> dict[str, str]:
    return dict(_ids.get())


def bind_log_ids(**ids: str | None) -> None:
    """Add ids to the current context (and to tasks started from it from now on)."""
    _ids.set({**_ids.get(), **{k: v for k, v in ids.items() if v}})


@contextmanager
def log_context(**ids: str | None) -> Iterator[None]:
    """``with log_context(session_id=...):`` -- the ids hold inside the block only."""
    token = _ids.set({**_ids.get(), **{k: v for k, v in ids.items() if v}})
    try:
        yield
    finally:
        _ids.reset(token)


class ContextFilter(logging.Filter):
    """Copies the bound ids onto every record (as attributes, and as ``record.ids``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = _ids.get()
        record.ids = ids
        for name in ID_FIELDS:
            if not hasattr(record, name):
                setattr(record, name, ids.get(name, ""))
        return True


class RedactingFormatter(logging.Formatter):
    """A plain-text formatter whose output is redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the ids, and any error."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        ids = getattr(record, "ids", None) or _ids.get()
        entry.update({k: v for k, v in ids.items() if v})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, ensure_ascii=False, default=str))


def configure_logging(
    config: LoggingSettings | None = None,
    *,
    json_format: bool | None = None,
    level: int | str = logging.INFO,
    stream: IO[str] | None = None,
    logger: str = "beluga_voice",
) -> logging.Handler:
    """Attach one redacting handler (JSON or text) to the ``beluga_voice`` logger.

    ``json_format`` defaults to ``config.enable_structured_logging``.  Calling it again
    replaces the handler it installed before rather than adding a second one.
    """
    if json_format is None:
        json_format = bool(config and config.enable_structured_logging)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter())
    if json_format:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            RedactingFormatter(
                "%(asctime)s %(levelname)s %(name)s [%(provider)s %(session_id)s] %(message)s"
            )
        )
    handler._beluga_voice = True  # type: ignore[attr-defined]
    target = logging.getLogger(logger)
    for old in [h for h in target.handlers if getattr(h, "_beluga_voice", False)]:
        target.removeHandler(old)
    target.addHandler(handler)
    target.setLevel(level)
    return handler
