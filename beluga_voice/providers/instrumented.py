"""A provider wrapper that records metrics, spans and log ids; the provider does not know.

:class:`InstrumentedProvider` wraps any provider (typically the outermost layer, around
fallback and retry, so that it sees the conversation as the user does, plus the
``SessionReconnected`` / ``ProviderSwitched`` events those wrappers emit for the failures
they hid).  Its sessions watch the event stream and the caller's operations:

* the end of a user turn is ``SpeechStopped`` (server turn detection) or ``end_turn()``;
* the first reply audio after it closes the ``response`` request and gives time to first
  audio; ``ResponseDone`` ends the turn (turn latency, latency-target compliance);
* errors, usage, switches and reconnects are counted as they pass.

Per event this costs a few ``isinstance`` checks; nothing is done per audio byte.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Tracer

from ..conversation import ConversationContext
from ..conversation import new_conversation_context as _new_ctx
from ..observability.logging import bind_log_ids
from ..observability.metrics import S2SMetrics
from ..observability.tracing import SessionTrace, get_tracer, request_span, span_attributes
from .base import ProviderWrapper, S2SProvider, StreamingSession
from .config import S2SConfig
from .errors import S2SError
from .events import (
    AudioChunk,
    ProviderSwitched,
    ResponseDone,
    SessionClosed,
    SessionError,
    SessionEvent,
    SessionReconnected,
    SpeechStopped,
    Usage,
)
from .types import AudioInput, AudioOutput

__all__ = ["InstrumentedProvider", "InstrumentedSession"]

_metrics_cache: dict[int, S2SMetrics] = {}


def _shared_metrics(meter_provider: MeterProvider | None) -> S2SMetrics:
    """One set of instruments per meter provider (creating them twice only warns)."""
    from opentelemetry import metrics

    provider = meter_provider or metrics.get_meter_provider()
    found = _metrics_cache.get(id(provider))
    if found is None:
        found = _metrics_cache[id(provider)] = S2SMetrics(provider)
    return found


def _model_of(provider: S2SProvider) -> str | None:
    for obj in (provider, getattr(provider, "inner", None), getattr(provider, "settings", None)):
        model = getattr(obj, "model", None)
        if isinstance(model, str):
            return model
    model = provider.config.provider_specific.get("model")
    return model if isinstance(model, str) else None


class InstrumentedProvider(ProviderWrapper):
    """Wraps ``inner`` with metrics (``config.enable_metrics``) and spans
    (``config.enable_tracing``).  Meter and tracer providers default to the global ones."""

    def __init__(
        self,
        inner: S2SProvider,
        config: S2SConfig | None = None,
        *,
        meter_provider: MeterProvider | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        config = config or inner.config
        super().__init__(config)
        self.inner = inner
        self.name = inner.name
        self.capabilities = inner.capabilities
        self.model = _model_of(inner)
        self.metrics = _shared_metrics(meter_provider) if config.enable_metrics else None
        self.tracer = get_tracer(config) if tracer is None or not config.enable_tracing else tracer

    def __repr__(self) -> str:
        return f"<InstrumentedProvider {self.inner!r}>"

    async def process(
        self, audio_input: AudioInput, ctx: ConversationContext | None = None
    ) -> AudioOutput:
        attrs = span_attributes(self.name, self.model, ctx)
        started = time.monotonic()
        try:
            with request_span(self.tracer, "process", attrs):
                output = await self.inner.process(audio_input, ctx)
        except BaseException as exc:
            if self.metrics is not None:
                self.metrics.request(self.name, "process", time.monotonic() - started, False)
                self.metrics.error(self.name, exc)
            raise
        if self.metrics is not None:
            self.metrics.request(self.name, "process", time.monotonic() - started, True)
        return output

    async def start_streaming(self, ctx: ConversationContext | None = None) -> StreamingSession:
        ctx = ctx or _new_ctx()
        bind_log_ids(
            provider=self.name,
            model=self.model,
            session_id=ctx.session_id,
            conversation_id=ctx.conversation_id,
        )
        trace = SessionTrace(self.tracer, span_attributes(self.name, self.model, ctx))
        started = time.monotonic()
        try:
            with request_span(self.tracer, "start_streaming", trace.attrs, trace.session):
                inner = await self.inner.start_streaming(ctx)
        except BaseException as exc:
            if self.metrics is not None:
                self.metrics.request(self.name, "start_streaming", None, False)
                self.metrics.error(self.name, exc)
            trace.end(exc)
            raise
        if self.metrics is not None:
            self.metrics.request(self.name, "start_streaming", time.monotonic() - started, True)
        return InstrumentedSession(self, inner, ctx, trace)


class InstrumentedSession(StreamingSession):
    """Forwards to the inner session and records what passes.  See the module docstring."""

    def __init__(
        self,
        provider: InstrumentedProvider,
        inner: StreamingSession,
        ctx: ConversationContext,
        trace: SessionTrace,
    ) -> None:
        super().__init__(provider.name, ctx)
        self.p = provider
        self.inner_session = inner
        self.trace = trace
        self.current_provider = provider.name
        self._turn_end: float | None = None
        self._first_audio: float | None = None
        self._ended = False

    # -- operations: forwarded ------------------------------------------------------------------

    async def send_audio(self, audio: bytes) -> None:
        await self.inner_session.send_audio(audio)

    async def send_text(self, text: str) -> None:
        self._mark_turn_end()
        await self.inner_session.send_text(text)

    async def speak(self, text: str) -> None:
        await self.inner_session.speak(text)

    async def send_tool_result(self, call_id: str, output: str) -> None:
        await self.inner_session.send_tool_result(call_id, output)

    async def set_input_muted(self, muted: bool) -> None:
        await self.inner_session.set_input_muted(muted)

    async def end_turn(self) -> None:
        self._mark_turn_end()
        await self.inner_session.end_turn()

    async def interrupt(self, played_ms: float | None = None) -> None:
        await self.inner_session.interrupt(played_ms)

    async def _close(self) -> None:
        try:
            await self.inner_session.close()
        finally:
            self._end(None)

    # -- events: observed -----------------------------------------------------------------------

    async def _receive(self) -> Iterable[SessionEvent]:
        try:
            event = await self.inner_session.__anext__()
        except StopAsyncIteration:
            event = SessionClosed(reason="session ended")
        self._observe(event)
        return (event,)

    def _mark_turn_end(self) -> None:
        self._turn_end = time.monotonic()
        self._first_audio = None
        self.trace.start_turn()

    def _observe(self, event: SessionEvent) -> None:
        m = self.p.metrics
        name = self.current_provider
        if isinstance(event, AudioChunk):
            if event.audio and self._turn_end is not None and self._first_audio is None:
                self._first_audio = time.monotonic()
                ttfa = self._first_audio - self._turn_end
                self.trace.first_audio(ttfa)
                if m is not None:
                    m.request(name, "response", ttfa, True)
        elif isinstance(event, SpeechStopped):
            self._mark_turn_end()
        elif isinstance(event, ResponseDone):
            self._finish_turn(event.status)
        elif isinstance(event, SessionError):
            if m is not None:
                m.error(name, event.error)
            if event.fatal:
                self._end(event.error)
        elif isinstance(event, Usage):
            if m is not None:
                m.tokens(name, event.input_tokens, event.output_tokens)
        elif isinstance(event, ProviderSwitched):
            self._switched(event)
        elif isinstance(event, SessionReconnected):
            if m is not None:
                m.reconnects.add(1, {"provider": event.provider})
                if event.error is not None:
                    m.error(event.provider, event.error)
            self.trace.event(
                "s2s.reconnect",
                {
                    "s2s.attempt": event.attempt,
                    "s2s.error_code": event.error.code.value if event.error else None,
                    "s2s.replayed_bytes": event.replayed_bytes,
                },
            )
        elif isinstance(event, SessionClosed):
            self._end(event.error)

    def _switched(self, event: ProviderSwitched) -> None:
        m = self.p.metrics
        if m is not None:
            m.switches.add(
                1,
                {
                    "from_provider": event.from_provider,
                    "to_provider": event.to_provider,
                    "reason": event.reason,
                },
            )
            if event.error is not None:
                m.error(event.from_provider, event.error)
        self.trace.event(
            "s2s.provider_switch",
            {
                "s2s.from_provider": event.from_provider,
                "s2s.to_provider": event.to_provider,
                "s2s.reason": event.reason,
                "s2s.replayed_bytes": event.replayed_bytes,
            },
        )
        self.current_provider = event.to_provider
        self.trace.set_provider(event.to_provider)
        bind_log_ids(provider=event.to_provider)

    def _finish_turn(self, status: str) -> None:
        start, first = self._turn_end, self._first_audio
        if start is None:
            return
        if status != "completed" and first is None:
            return  # cut off (barge-in, switch): the turn goes on with the next reply
        self._turn_end = self._first_audio = None
        self.trace.end_turn(status)
        m = self.p.metrics
        if m is not None:
            cfg = self.p.config
            total = time.monotonic() - start
            ttfa = None if first is None else first - start
            m.turn(self.current_provider, cfg.latency_target, cfg.latency_budget, ttfa, total)

    def _end(self, error: S2SError | None) -> None:
        if self._ended:
            return
        self._ended = True
        self.trace.end(error)
