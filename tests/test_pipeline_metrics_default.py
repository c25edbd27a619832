"""Issue 16 point 8: per-frame pipeline metrics without a hand-attached observer.

``PipelineTask`` attaches :class:`PipelineMetrics` itself when asked (``metrics=True``)
or when a processor's provider config enables metrics (the default); ``VoiceSession``
does the same from its config.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from beluga_voice.frames import Direction, Frame, InputAudioFrame
from beluga_voice.pipeline import FrameProcessor, PipelineTask
from beluga_voice.pipeline.metrics import PipelineMetrics
from beluga_voice.processors.s2s import S2SProcessor
from beluga_voice.providers import S2SConfig
from beluga_voice.providers.mock import AdvancedMockS2SProvider
from beluga_voice.session import VoiceSession
from beluga_voice.testing import tone

pytestmark = pytest.mark.anyio

UTTERANCE = tone(0.4, 16000, 300, 0.5) + bytes(2 * 16000 // 2)


class Pass(FrameProcessor):
    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        await self.push_frame(frame, direction)


def frames_pushed(reader: InMemoryMetricReader) -> dict[str, Any]:
    data = reader.get_metrics_data()
    out: dict[str, Any] = {}
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == "pipeline.frames":
                    for p in metric.data.data_points:
                        out[str(p.attributes["processor"])] = p.value
    return out


async def test_pipeline_task_attaches_the_observer_when_asked() -> None:
    reader = InMemoryMetricReader()
    procs = [Pass(name=f"p{i}") for i in range(2)]
    task = PipelineTask(procs, metrics=True, meter_provider=MeterProvider(metric_readers=[reader]))
    assert isinstance(task.metrics, PipelineMetrics)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            for _ in range(10):
                await task.queue_frame(InputAudioFrame(bytes(640), 16000))
            await task.stop_when_done()
    counts = frames_pushed(reader)
    assert counts["p0"] == counts["p1"] == 12  # 10 audio + Start + End


def test_default_follows_the_providers_config_and_is_never_doubled() -> None:
    on = AdvancedMockS2SProvider(config=S2SConfig(provider="mock"))
    off = AdvancedMockS2SProvider(config=S2SConfig(provider="mock", enable_metrics=False))
    assert isinstance(PipelineTask([S2SProcessor(on)]).metrics, PipelineMetrics)
    assert PipelineTask([S2SProcessor(off)]).metrics is None
    assert PipelineTask([S2SProcessor(on)], metrics=False).metrics is None
    assert PipelineTask([Pass()]).metrics is None  # no config says so
    mine = PipelineMetrics()
    task = PipelineTask([S2SProcessor(on)], observers=[mine])
    assert task.metrics is None  # the caller's observer is the one; none added


async def test_voice_session_records_per_frame_metrics() -> None:
    reader = InMemoryMetricReader()
    mock = AdvancedMockS2SProvider(audio_outputs=[tone(0.3)], transcripts=["reply"])
    replied = anyio.Event()
    with anyio.fail_after(10):
        async with VoiceSession(
            s2s_provider=mock,
            meter_provider=MeterProvider(metric_readers=[reader]),
            on_transcript=lambda frame: replied.set(),
        ) as session:
            step = 640
            for i in range(0, len(UTTERANCE), step):
                await session.process_audio(UTTERANCE[i : i + step])
            await replied.wait()
    counts = frames_pushed(reader)
    assert counts["S2S[mock]"] > 0, counts
    assert counts["VoiceSession.state"] > 0
