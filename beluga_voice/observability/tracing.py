"""Tracing: one span per session, per turn and per provider request.

Spans (tracer ``beluga_voice``), all carrying ``s2s.provider``, ``s2s.model``,
``s2s.session_id`` and ``s2s.conversation_id``:

* ``s2s.session``: the whole live session; switches and reconnects are span events;
* ``s2s.turn`` (child of the session): from the end of the user's turn to the end of the
  reply, with ``s2s.time_to_first_audio_ms`` and ``s2s.response_status``;
* ``s2s.request``: one provider request (opening a session, a one-shot ``process``).

``config.enable_tracing=False`` gives a no-op tracer, so the calls cost nothing.  Spans
are exported wherever the global (or given) ``TracerProvider`` sends them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry import trace
from opentelemetry.trace import NoOpTracer, Span, Status, StatusCode, Tracer, TracerProvider

from ..errors import S2SError
from ..secrets import redact

if TYPE_CHECKING:
    from ..conversation import ConversationContext

__all__ = [
    "TRACER_NAME",
    "SessionTrace",
    "get_tracer",
    "record_error",
    "request_span",
    "span_attributes",
]

TRACER_NAME = "beluga_voice"


class TracingSettings(Protocol):
    """What :func:`get_tracer` reads of a config (an ``S2SConfig`` has it)."""

    enable_tracing: bool


def get_tracer(
    config: TracingSettings | None = None, tracer_provider: TracerProvider | None = None
) -> Tracer:
    """The ``beluga_voice`` tracer, or a no-op one when ``config.enable_tracing`` is off."""
    if config is not None and not config.enable_tracing:
        return NoOpTracer()
    return (tracer_provider or trace.get_tracer_provider()).get_tracer(TRACER_NAME)


def span_attributes(
    provider: str, model: str | None, ctx: ConversationContext | None
) -> dict[str, str]:
    attrs = {"s2s.provider": provider}
    if model:
        attrs["s2s.model"] = model
    if ctx is not None:
        attrs["s2s.session_id"] = ctx.session_id
        attrs["s2s.conversation_id"] = ctx.conversation_id
    return attrs


def record_error(span: Span, error: BaseException) -> None:
    """Mark ``span`` failed with a redacted description (no secrets in traces)."""
    code = error.code.value if isinstance(error, S2SError) else type(error).__name__
    span.set_attribute("s2s.error_code", code)
    span.set_status(Status(StatusCode.ERROR, redact(str(error))))
    span.add_event("exception", {"exception.type": type(error).__name__, "s2s.error_code": code})


@contextmanager
def request_span(
    tracer: Tracer, operation: str, attrs: Mapping[str, str], parent: Span | None = None
) -> Iterator[Span]:
    """A ``s2s.request`` span around one provider request; errors mark it failed."""
    context = trace.set_span_in_context(parent) if parent is not None else None
    span = tracer.start_span("s2s.request", context=context, attributes=dict(attrs))
    span.set_attribute("s2s.operation", operation)
    try:
        yield span
    except BaseException as exc:
        record_error(span, exc)
        raise
    finally:
        span.end()


class SessionTrace:
    """The spans of one live session; the instrumented session drives it from events."""

    def __init__(self, tracer: Tracer, attrs: Mapping[str, str]) -> None:
        self.tracer = tracer
        self.attrs = dict(attrs)
        self.session = tracer.start_span("s2s.session", attributes=self.attrs)
        self.turn: Span | None = None

    def start_turn(self) -> None:
        if self.turn is not None:
            return
        context = trace.set_span_in_context(self.session)
        self.turn = self.tracer.start_span("s2s.turn", context=context, attributes=self.attrs)

    def first_audio(self, seconds: float) -> None:
        if self.turn is not None:
            self.turn.set_attribute("s2s.time_to_first_audio_ms", seconds * 1000.0)

    def end_turn(self, status: str) -> None:
        if self.turn is None:
            return
        self.turn.set_attribute("s2s.response_status", status)
        self.turn.end()
        self.turn = None

    def event(self, name: str, attributes: Mapping[str, Any]) -> None:
        self.session.add_event(name, {k: v for k, v in attributes.items() if v is not None})

    def set_provider(self, provider: str) -> None:
        self.attrs["s2s.provider"] = provider
        self.session.set_attribute("s2s.current_provider", provider)

    def end(self, error: BaseException | None = None) -> None:
        self.end_turn("incomplete")
        if error is not None:
            record_error(self.session, error)
        self.session.end()
