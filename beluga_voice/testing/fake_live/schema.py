"""Checking the fake's traffic against the official SDK's ``openai.types.live`` models.

Every client event the fake receives must validate against the SDK's ``ClientEvent``
union and every event it sends against ``ServerEvent``; violations are recorded, never
trusted.  The SDK models accept unknown fields, while the service rejects them in
``session.start`` ("a strict configuration object that rejects unknown fields"), so the
start's ``session`` keys are also checked against ``SessionConfig``'s fields.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

__all__ = ["SDK_AVAILABLE", "check_client_event", "check_server_event", "unknown_session_keys"]

try:
    from openai.types.live import ClientEvent, ServerEvent, SessionConfig
except ImportError:  # pragma: no cover - the SDK is installed with the test extra
    SDK_AVAILABLE = False
    _client: TypeAdapter[Any] | None = None
    _server: TypeAdapter[Any] | None = None
    _session_keys: frozenset[str] = frozenset()
else:
    SDK_AVAILABLE = True
    _client = TypeAdapter(ClientEvent)
    _server = TypeAdapter(ServerEvent)
    _session_keys = frozenset(SessionConfig.model_fields)


def _check(adapter: TypeAdapter[Any] | None, event: Any, side: str) -> str | None:
    if adapter is None:
        return None
    try:
        adapter.validate_python(event)
    except ValidationError as exc:
        kind = event.get("type") if isinstance(event, dict) else type(event).__name__
        return f"{side} event {kind!r}: {exc.errors()[0]['msg']} at {exc.errors()[0]['loc']}"
    return None


def check_client_event(event: Any) -> str | None:
    """A description of what is wrong with a client event, or None."""
    return _check(_client, event, "client")


def check_server_event(event: Any) -> str | None:
    return _check(_server, event, "server")


def unknown_session_keys(session: dict[str, Any]) -> list[str]:
    if not SDK_AVAILABLE:
        return []
    return sorted(k for k in session if k not in _session_keys)
