"""GPT-Live wire shapes: the ``session.start`` payload, history seeding and error codes.

Everything here is plain data built from the settings; the protocol core
(:mod:`.protocol`) decides when to send it.  Field names follow the official SDK's
``openai.types.live`` models (``SessionConfig``, ``InitialItem``, ``ClientDelegation``,
``ResponsesDelegationConfig``), which the conformance tests validate every event against.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...conversation import Turn
from ..errors import ErrorCode
from ..events import DELEGATE_TOOL
from ..openai_realtime.dialect import ErrorRule
from .settings import OpenAILiveSettings

__all__ = ["DELEGATE_TOOL", "classify_error", "initial_items", "session_config"]

_ERRORS: dict[str, ErrorRule] = {
    "invalid_api_key": ErrorRule(ErrorCode.AUTHENTICATION_ERROR, fatal=True),
    "authentication_error": ErrorRule(ErrorCode.AUTHENTICATION_ERROR, fatal=True),
    "permission_denied": ErrorRule(ErrorCode.AUTHORIZATION_ERROR, fatal=True),
    "credit_balance_exhausted": ErrorRule(ErrorCode.QUOTA_EXCEEDED, fatal=True),
    "insufficient_quota": ErrorRule(ErrorCode.QUOTA_EXCEEDED, fatal=True),
    "model_not_found": ErrorRule(ErrorCode.INVALID_MODEL, fatal=True),
    "rate_limit_exceeded": ErrorRule(ErrorCode.RATE_LIMIT, fatal=True),
    "server_error": ErrorRule(ErrorCode.INTERNAL_ERROR, fatal=True),
    "session_storage_failed": ErrorRule(ErrorCode.INTERNAL_ERROR),
    "unknown_parameter": ErrorRule(ErrorCode.INVALID_REQUEST),
    "invalid_value": ErrorRule(ErrorCode.INVALID_REQUEST),
    "invalid_request_error": ErrorRule(ErrorCode.INVALID_REQUEST),
}


def classify_error(code: str | None, kind: str | None, *, starting: bool) -> ErrorRule:
    """Our code for a GPT-Live ``error`` event.

    A command error does not end the session (the service keeps it open), so unknown
    codes are non-fatal ``invalid_request``; but before ``session.started`` any error is
    a rejected startup, and no session will follow: fatal.
    """
    rule = _ERRORS.get(code or "") or _ERRORS.get(kind or "")
    if rule is None:
        rule = ErrorRule(ErrorCode.INVALID_REQUEST)
    if starting and not rule.fatal:
        rule = ErrorRule(rule.code, fatal=True)
    return rule


def initial_items(turns: Iterable[Turn]) -> list[dict[str, Any]]:
    """The session's ``input``: text-only history with one text part per message.

    System notes and tool results become developer messages (the service takes
    developer, user and assistant roles only).
    """
    items: list[dict[str, Any]] = []
    for turn in turns:
        text = turn.text.strip()
        if not text:
            continue
        if turn.role == "user":
            items.append(
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": text}],
                }
            )
        elif turn.role == "assistant":
            items.append(
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": text}],
                }
            )
        else:
            note = ("Tool result: " if turn.role == "tool" else "") + text
            items.append(
                {
                    "type": "message",
                    "role": "developer",
                    "content": [{"type": "input_text", "text": note}],
                }
            )
    return items


def session_config(
    settings: OpenAILiveSettings, delegation: str, history: list[Turn]
) -> dict[str, Any]:
    """The ``session`` object of ``session.start``."""
    s = settings
    audio: dict[str, Any] = {"format": {"type": "audio/pcm", "rate": s.sample_rate}}
    if s.voice:
        audio["output"] = {"voice": s.voice}
    session: dict[str, Any] = {"model": s.model, "audio": audio}
    if s.instructions:
        session["instructions"] = s.instructions
    session["delegation"] = _delegation(s, delegation)
    turns = history[-s.seed_max_turns :] if s.seed_max_turns else []
    items = initial_items(turns)
    if items:
        session["input"] = items
    if s.store is not None:
        session["store"] = s.store
    if s.safety_identifier:
        session["safety_identifier"] = s.safety_identifier
    return session


def _delegation(s: OpenAILiveSettings, mode: str) -> dict[str, Any]:
    out: dict[str, Any] = {"type": mode}
    if mode == "responses":
        backend: dict[str, Any] = {"model": s.responses_model}
        if s.responses_instructions:
            backend["instructions"] = s.responses_instructions
        if s.responses_max_output_tokens:
            backend["max_output_tokens"] = s.responses_max_output_tokens
        tools: list[dict[str, Any]] = [t.wire() for t in s.tools]
        if s.web_search:
            tools.append({"type": "web_search"})
        if tools:
            backend["tools"] = tools
        out["responses"] = backend
    if s.acknowledgement_delay_ms is not None:
        out["acknowledgement_delay_ms"] = s.acknowledgement_delay_ms
    return out
