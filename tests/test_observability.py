"""Observability: metrics and spans read back through in-memory exporters, logging."""

from __future__ import annotations

import io
import json
import logging
import random
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from _resilience_faults import DroppingMock, delivered, utterance
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from beluga_voice.frames import (
    InputAudioFrame,
    OutputAudioFrame,
    ResponseEndFrame,
    UserStoppedSpeakingFrame,
)
from beluga_voice.observability import (
    S2SMetrics,
    configure_logging,
    log_context,
    setup_telemetry,
)
from beluga_voice.pipeline import FrameProcessor, PipelineTask
from beluga_voice.pipeline.metrics import PipelineMetrics
from beluga_voice.providers.config import S2SConfig
from beluga_voice.providers.events import ResponseDone, SessionEvent, Usage
from beluga_voice.providers.instrumented import InstrumentedProvider
from beluga_voice.providers.mock import AdvancedMockS2SProvider
from beluga_voice.providers.registry import register_provider
from beluga_voice.providers.wrap import wrap_provider
from beluga_voice.secrets import register_secret

pytestmark = pytest.mark.anyio


class Telemetry:
    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.meters = MeterProvider(metric_readers=[self.reader])
        self.spans = InMemorySpanExporter()
        self.tracers = TracerProvider()
        self.tracers.add_span_processor(SimpleSpanProcessor(self.spans))
        self.tracer = self.tracers.get_tracer("beluga_voice")

    def points(self, name: str, data: Any = None) -> list[tuple[dict[str, Any], Any]]:
        """Data points of ``name`` (from ``data``, one collection, or a new collection)."""
        data = data or self.reader.get_metrics_data()
        out = []
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        for p in metric.data.data_points:
                            value = p.value if hasattr(p, "value") else (p.count, p.sum)
                            out.append((dict(p.attributes), value))
        return out

    def total(self, name: str, **attrs: str) -> float:
        return sum(
            v for a, v in self.points(name) if all(a.get(k) == want for k, want in attrs.items())
        )

    def span_names(self) -> list[str]:
        return [s.name for s in self.spans.get_finished_spans()]


@pytest.fixture
def tel() -> Telemetry:
    return Telemetry()


async def converse(session, chunks: list[bytes]) -> list[SessionEvent]:
    events: list[SessionEvent] = []
    with anyio.fail_after(10):
        for chunk in chunks:
            await session.send_audio(chunk)
        async for event in session:
            events.append(event)
            if isinstance(event, ResponseDone) and event.status == "completed":
                break
    return events


def cfg(**kw: Any) -> S2SConfig:
    base = dict(provider="mock", max_retries=2, retry_delay=0.1, timeout=5)
    return S2SConfig(**{**base, **kw})


async def test_retry_stack_records_metrics_and_spans(tel: Telemetry) -> None:
    mock = DroppingMock("primary", drop_after_audio=10)
    provider = wrap_provider(
        mock,
        cfg(),
        fallbacks=[],
        meter_provider=tel.meters,
        tracer=tel.tracer,
        rng=random.Random(1),
    )
    turn = utterance(0)
    async with await provider.start_streaming() as session:
        await converse(session, turn)
    assert delivered(turn, mock) == len(turn)
    assert tel.total("s2s.session.reconnects", provider="primary") == 1
    assert tel.total("s2s.errors.total", provider="primary", code="network_error") == 1
    assert tel.total("s2s.requests.total", operation="start_streaming", outcome="ok") == 1
    assert tel.total("s2s.requests.total", operation="response") == 1
    [(attrs, (count, _))] = tel.points("s2s.turn.time_to_first_audio")
    assert attrs == {"provider": "primary"} and count == 1
    assert tel.total("s2s.turns.total", within_budget="true", latency_target="medium") == 1
    names = tel.span_names()
    assert names.count("s2s.session") == 1 and names.count("s2s.turn") == 1
    assert names.count("s2s.request") == 1
    spans = {s.name: s for s in tel.spans.get_finished_spans()}
    for span in spans.values():
        assert span.attributes["s2s.provider"] == "primary"
        assert span.attributes["s2s.session_id"].startswith("sess-")
        assert span.attributes["s2s.conversation_id"].startswith("conv-")
    assert spans["s2s.turn"].parent.span_id == spans["s2s.session"].context.span_id
    assert spans["s2s.turn"].attributes["s2s.time_to_first_audio_ms"] >= 0
    assert [e.name for e in spans["s2s.session"].events] == ["s2s.reconnect"]


async def test_fallback_switch_is_an_event_a_metric_and_a_span_event(tel: Telemetry) -> None:
    primary = AdvancedMockS2SProvider("primary", fail_after_chunks=0)
    backup = AdvancedMockS2SProvider("backup")
    provider = wrap_provider(
        primary,
        cfg(max_retries=1),
        fallbacks=[backup],
        meter_provider=tel.meters,
        tracer=tel.tracer,
        rng=random.Random(1),
    )
    turn = utterance(0)
    async with await provider.start_streaming() as session:
        await converse(session, turn)
    assert backup.turns == 1 and delivered(turn, primary, backup) == len(turn)
    switch = {"from_provider": "primary", "to_provider": "backup", "reason": "error"}
    assert tel.total("s2s.provider.switches", **switch) == 1
    # One failure retried, one that exhausted the retries and caused the switch.
    assert tel.total("s2s.errors.total", provider="primary", code="stream_error") == 2
    assert tel.total("s2s.turns.total", provider="backup") == 1
    session_span = next(s for s in tel.spans.get_finished_spans() if s.name == "s2s.session")
    assert "s2s.provider_switch" in [e.name for e in session_span.events]
    assert session_span.attributes["s2s.current_provider"] == "backup"


async def test_final_failure_is_counted_and_marks_the_session_span(tel: Telemetry) -> None:
    primary = AdvancedMockS2SProvider("primary", fail_after_chunks=0)
    provider = wrap_provider(
        primary, cfg(max_retries=1), fallbacks=[], meter_provider=tel.meters, tracer=tel.tracer
    )
    async with await provider.start_streaming() as session:
        with anyio.fail_after(10):
            for chunk in utterance(0):
                await session.send_audio(chunk)
            events = [e async for e in session]
    assert events
    assert tel.total("s2s.errors.total", provider="primary", code="stream_error") == 2
    [span] = [s for s in tel.spans.get_finished_spans() if s.name == "s2s.session"]
    assert not span.status.is_ok and span.attributes["s2s.error_code"] == "stream_error"


async def test_tracing_and_metrics_can_be_turned_off(tel: Telemetry) -> None:
    mock = AdvancedMockS2SProvider("primary")
    config = cfg(enable_tracing=False, enable_metrics=False, max_retries=0)
    assert wrap_provider(mock, config, fallbacks=[]) is mock
    provider = InstrumentedProvider(mock, config, meter_provider=tel.meters, tracer=tel.tracer)
    async with await provider.start_streaming() as session:
        await converse(session, utterance(0))
    assert tel.span_names() == []
    assert tel.points("s2s.requests.total") == []


async def test_usage_events_count_tokens(tel: Telemetry) -> None:
    metrics = S2SMetrics(tel.meters)
    metrics.tokens("p", 120, 30)
    metrics.tokens("p", 5, 0)
    assert tel.total("s2s.provider.usage", provider="p", kind="input_tokens") == 125
    assert tel.total("s2s.provider.usage", provider="p", kind="output_tokens") == 30
    assert Usage(1, 2, 3).total_tokens == 3


async def test_wrap_provider_builds_fallbacks_through_the_registry(tel: Telemetry) -> None:
    built: list[S2SConfig] = []

    def factory(config: S2SConfig, settings: object) -> AdvancedMockS2SProvider:
        built.append(config)
        return AdvancedMockS2SProvider("obs-backup", config=config)

    register_provider("obs-backup", factory, requires_api_key=False)
    config = cfg(fallback_providers=["obs-backup"], api_key="sk-primaryonly123456")
    provider = wrap_provider(AdvancedMockS2SProvider("mock"), config, meter_provider=tel.meters)
    assert repr(provider).startswith("<InstrumentedProvider <FallbackProvider")
    [fb_config] = built
    assert fb_config.provider == "obs-backup" and fb_config.api_key is None
    assert fb_config.fallback_providers == [] and fb_config.max_retries == 2


class Pass(FrameProcessor):
    pass


async def test_pipeline_observer_counts_frames_bytes_latency_depth_and_turns(
    tel: Telemetry,
) -> None:
    turns = S2SMetrics(tel.meters)
    observer = PipelineMetrics(tel.meters, turn_metrics=turns, provider="p", budget=1.0)
    procs = [Pass(name=f"p{i}") for i in range(3)]
    task = PipelineTask(procs, observers=[observer])
    observer.watch(task)
    n = 50
    async with anyio.create_task_group() as tg:
        tg.start_soon(task.run)
        for _ in range(n):
            await task.queue_frame(InputAudioFrame(bytes(640), 16000))
        await task.queue_frame(UserStoppedSpeakingFrame())
        await task.queue_frame(OutputAudioFrame(bytes(960), 24000))
        await task.queue_frame(ResponseEndFrame())
        await task.stop_when_done()
    data = tel.reader.get_metrics_data()  # one collection: the gauges cover one interval
    frames = {a["processor"]: v for a, v in tel.points("pipeline.frames", data)}
    sizes = {a["processor"]: v for a, v in tel.points("pipeline.bytes", data)}
    for p in procs:
        # n audio + Start + End + the three turn frames
        assert frames[p.name] == n + 5
        assert sizes[p.name] == n * 640 + 960
    latency = {a["processor"]: v for a, v in tel.points("pipeline.frame.transit_latency", data)}
    assert all(v >= 0 for v in latency.values()) and set(latency) >= {p.name for p in procs}
    depth = {a["processor"]: v for a, v in tel.points("pipeline.queue_depth", data)}
    assert set(depth) >= {p.name for p in procs} and all(v == 0 for v in depth.values())
    # The next collection covers an interval without frames: no stale latency is reported.
    assert tel.points("pipeline.frame.transit_latency") == []
    assert tel.total("s2s.turns.total", provider="p", within_budget="true") == 1
    [(_, (count, _))] = tel.points("s2s.turn.time_to_first_audio")
    assert count == 1


@pytest.fixture(autouse=True)
def _restore_the_package_logger() -> Iterator[None]:
    """``configure_logging`` sets the ``beluga_voice`` logger's level: later tests in this
    process must not inherit it (a test reading DEBUG handshake logs would see nothing)."""
    logger = logging.getLogger("beluga_voice")
    level, handlers = logger.level, list(logger.handlers)
    yield
    logger.setLevel(level)
    logger.handlers[:] = handlers


def test_json_logs_carry_ids_and_never_secrets() -> None:
    secret = "sk-live-abcdefghijklmnopqrstuvwx"
    register_secret("hunter2-very-secret")
    out = io.StringIO()
    handler = configure_logging(json_format=True, stream=out, level=logging.INFO)
    log = logging.getLogger("beluga_voice.test")
    try:
        with log_context(provider="mock", session_id="sess-1", conversation_id="conv-1"):
            log.info("connecting with %s and hunter2-very-secret", secret)
            try:
                raise RuntimeError(f"Authorization: Bearer {secret}")
            except RuntimeError:
                log.exception("failed")
        log.info("outside")
    finally:
        logging.getLogger("beluga_voice").removeHandler(handler)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["session_id"] == "sess-1" and lines[0]["provider"] == "mock"
    assert lines[0]["conversation_id"] == "conv-1" and lines[0]["level"] == "INFO"
    assert "error" in lines[1] and "RuntimeError" in lines[1]["error"]
    assert "session_id" not in lines[2]
    text = out.getvalue()
    assert secret not in text and "hunter2-very-secret" not in text and "***" in text


def test_text_logs_are_redacted_too() -> None:
    out = io.StringIO()
    handler = configure_logging(json_format=False, stream=out)
    try:
        logging.getLogger("beluga_voice.test").warning("key=%s", "AIzaSyA1234567890abcdefghijk")
    finally:
        logging.getLogger("beluga_voice").removeHandler(handler)
    assert "AIza" not in out.getvalue() and "***" in out.getvalue()


def test_setup_telemetry_reads_otel_variables() -> None:
    nothing = setup_telemetry({}, set_global=False)
    assert nothing.tracer_provider is None and nothing.meter_provider is None
    both = setup_telemetry(
        {"OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "console"},
        set_global=False,
    )
    try:
        assert both.tracer_provider is not None and both.meter_provider is not None
    finally:
        both.shutdown()
    with pytest.raises(ValueError, match="OTEL_TRACES_EXPORTER"):
        setup_telemetry({"OTEL_TRACES_EXPORTER": "zipkin-nope"}, set_global=False)
