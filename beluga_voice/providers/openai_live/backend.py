"""The Responses backend of a GPT-Live session, seen through ``response.event`` envelopes.

With Responses delegation the session runs a Responses model for each delegation and
relays that model's streaming events, wrapped in ``response.event`` with the delegation
id.  Most of them are the backend's business (its reasoning, hosted tool calls, text the
voice model will speak); three matter to the application:

- a **function call** (``response.output_item.done`` with a ``function_call`` item): the
  application runs the function and answers with ``response.item.create``
  (``function_call_output``), then ``response.create`` to let the backend continue;
- **usage** of a completed response (tokens: the backend is billed by token, the voice by
  the second);
- a **failed** or **incomplete** response: the delegated work did not finish, which the
  application must hear about at once rather than wait for an answer that never comes.
"""

from __future__ import annotations

from typing import Any

from ..errors import ErrorCode, S2SError
from ..events import SessionError, SessionEvent, ToolCall, Usage

__all__ = ["BackendEvents"]


class BackendEvents:
    """Function calls in flight per delegation, and the events that matter (see above)."""

    def __init__(self) -> None:
        self.delegations: dict[str, str | None] = {}
        """Delegation id -> the Responses response id it started with."""
        self._calls: dict[str, str | None] = {}
        """Open function call id -> its delegation id."""
        self._seen: set[str] = set()

    def delegated(self, delegation_id: str, response_id: str | None) -> None:
        self.delegations[delegation_id] = response_id

    def owns(self, call_id: str) -> bool:
        return call_id in self._calls

    def answered(self, call_id: str) -> bool:
        """Record an answer; True when its delegation has no open call left (continue)."""
        delegation = self._calls.pop(call_id, None)
        return not any(d == delegation for d in self._calls.values())

    def receive(self, event: dict[str, Any], delegation_id: str | None) -> list[SessionEvent]:
        kind = event.get("type")
        if kind == "response.output_item.done":
            return self._item(event["item"], delegation_id)
        response = event.get("response")
        response = response if isinstance(response, dict) else {}
        if kind == "response.completed":
            usage = response.get("usage")
            if not isinstance(usage, dict):
                return []
            return [
                Usage(
                    input_tokens=int(usage.get("input_tokens") or 0),
                    output_tokens=int(usage.get("output_tokens") or 0),
                    total_tokens=int(usage.get("total_tokens") or 0),
                    details={"delegation_id": delegation_id, "model": response.get("model")},
                )
            ]
        if kind in ("response.failed", "response.incomplete", "error"):
            return [self._failure(kind, event, response, delegation_id)]
        return []

    def _item(self, item: dict[str, Any], delegation_id: str | None) -> list[SessionEvent]:
        if not isinstance(item, dict) or item.get("type") != "function_call":
            return []
        call_id = str(item["call_id"])
        if call_id in self._seen:
            return []
        self._seen.add(call_id)
        self._calls[call_id] = delegation_id
        return [ToolCall(call_id, str(item["name"]), str(item.get("arguments") or ""))]

    def _failure(
        self, kind: str, event: dict[str, Any], response: dict[str, Any], delegation_id: str | None
    ) -> SessionError:
        if kind == "error":
            err: Any = event
        elif kind == "response.incomplete":
            err = response.get("incomplete_details") or {}
        else:
            err = response.get("error") or {}
        err = err if isinstance(err, dict) else {}
        message = str(err.get("message") or err.get("reason") or kind)
        code = (
            ErrorCode.RATE_LIMIT
            if err.get("code") == "rate_limit_exceeded"
            else ErrorCode.STREAM_ERROR
        )
        details = {"delegation_id": delegation_id, "code": err.get("code"), "event": kind}
        return SessionError(
            S2SError(
                "receive", code, f"openai_live: delegated work failed: {message}", details=details
            )
        )
