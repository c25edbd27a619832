"""The wrapped provider inside a real pipeline: user audio frames in, a recovered answer
out, no frame lost, and the metrics of the recovery recorded."""

from __future__ import annotations

import anyio
import pytest
from _resilience_faults import DroppingMock, delivered, utterance
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from beluga_voice.frames import (
    Frame,
    InputAudioFrame,
    OutputAudioFrame,
    ResponseEndFrame,
    UserStartedSpeakingFrame,
)
from beluga_voice.pipeline import PipelineTask
from beluga_voice.pipeline.metrics import PipelineMetrics
from beluga_voice.processors.s2s import S2SProcessor
from beluga_voice.providers.config import S2SConfig
from beluga_voice.providers.wrap import wrap_provider

pytestmark = pytest.mark.anyio


def total(reader: InMemoryMetricReader, name: str, **attrs: str) -> float:
    value = 0.0
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name != name:
                    continue
                for p in metric.data.data_points:
                    if all(p.attributes.get(k) == v for k, v in attrs.items()):
                        value += p.value
    return value


@pytest.mark.parametrize("retries", [0, 2])
async def test_pipeline_survives_a_drop_mid_turn_without_losing_audio(retries: int) -> None:
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    spans = InMemorySpanExporter()
    tracers = TracerProvider()
    tracers.add_span_processor(SimpleSpanProcessor(spans))
    primary = DroppingMock("primary", drop_after_audio=12)
    backup = DroppingMock("backup")
    config = S2SConfig(provider="mock", max_retries=retries, retry_delay=0.1, timeout=5)
    provider = wrap_provider(
        primary,
        config,
        fallbacks=[backup],
        meter_provider=meters,
        tracer=tracers.get_tracer("beluga_voice"),
    )
    answered = anyio.Event()
    out: list[Frame] = []

    async def collect(frame: Frame) -> None:
        out.append(frame)
        if isinstance(frame, ResponseEndFrame) and not frame.interrupted:
            answered.set()

    s2s = S2SProcessor(provider, forward_input_audio=False)
    task = PipelineTask([s2s], on_output=collect, observers=[PipelineMetrics(meters)])
    captured = utterance(0)
    async with anyio.create_task_group() as tg:
        tg.start_soon(task.run)
        for chunk in captured:
            await task.queue_frame(InputAudioFrame(chunk, 16000))
        with anyio.fail_after(10):
            await answered.wait()
        await task.stop_when_done()
    assert task.errors == []
    assert any(isinstance(f, OutputAudioFrame) for f in out)
    # The replayed speech does not look like a second utterance (or a barge-in).
    assert sum(isinstance(f, UserStartedSpeakingFrame) for f in out) == 1
    # Every captured frame reached a provider session that was alive to hear it.
    assert delivered(captured, primary, backup) == len(captured)
    if retries:
        assert total(reader, "s2s.session.reconnects", provider="primary") == 1
        assert backup.calls == 0
    else:
        assert total(reader, "s2s.provider.switches", reason="error") == 1
        assert backup.sessions[0].heard == captured
    assert total(reader, "s2s.errors.total", code="network_error") == 1
    assert total(reader, "pipeline.frames", processor=s2s.name) >= 1
    assert [s.name for s in spans.get_finished_spans()].count("s2s.session") == 1
