"""Exporters, configured the standard OpenTelemetry way: through ``OTEL_*`` variables.

beluga-voice only *uses* the OpenTelemetry API; with nothing configured every metric and
span is a no-op.  Applications that already configure OpenTelemetry (for instance with
``opentelemetry-instrument``) need nothing from here.  Others can call
:func:`setup_telemetry` once at start-up, which reads the usual variables:

* ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER``: ``console``, ``otlp`` or ``none``
  (default ``none``); ``otlp`` needs the ``otlp`` extra
  (``pip install beluga-voice[otlp]``) and honours ``OTEL_EXPORTER_OTLP_ENDPOINT`` and
  friends itself;
* ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` (read by the SDK's ``Resource``);
* ``OTEL_METRIC_EXPORT_INTERVAL`` (ms, read by the SDK's periodic reader).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)

__all__ = ["Telemetry", "setup_telemetry"]


@dataclass
class Telemetry:
    """What :func:`setup_telemetry` installed; call :meth:`shutdown` to flush on exit."""

    tracer_provider: TracerProvider | None
    meter_provider: MeterProvider | None

    def shutdown(self) -> None:
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()


def _span_exporter(name: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()
    if name == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as exc:  # pragma: no cover - depends on the optional extra
            raise RuntimeError("OTEL_TRACES_EXPORTER=otlp needs beluga-voice[otlp]") from exc
        return OTLPSpanExporter()
    raise ValueError(f"OTEL_TRACES_EXPORTER: unsupported exporter {name!r} (console, otlp, none)")


def _metric_exporter(name: str) -> MetricExporter:
    if name == "console":
        return ConsoleMetricExporter()
    if name == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
                OTLPMetricExporter,
            )
        except ImportError as exc:  # pragma: no cover - depends on the optional extra
            raise RuntimeError("OTEL_METRICS_EXPORTER=otlp needs beluga-voice[otlp]") from exc
        return OTLPMetricExporter()
    raise ValueError(f"OTEL_METRICS_EXPORTER: unsupported exporter {name!r} (console, otlp, none)")


def setup_telemetry(
    environ: Mapping[str, str] | None = None, *, set_global: bool = True
) -> Telemetry:
    """Build SDK providers from ``OTEL_*`` variables (see the module docstring)."""
    env = os.environ if environ is None else environ
    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME", "beluga-voice")})
    tracer_provider = meter_provider = None
    traces = env.get("OTEL_TRACES_EXPORTER", "none").strip().lower()
    if traces and traces != "none":
        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(BatchSpanProcessor(_span_exporter(traces)))
        if set_global:
            trace.set_tracer_provider(tracer_provider)
    metrics_name = env.get("OTEL_METRICS_EXPORTER", "none").strip().lower()
    if metrics_name and metrics_name != "none":
        reader = PeriodicExportingMetricReader(_metric_exporter(metrics_name))
        meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
        if set_global:
            metrics.set_meter_provider(meter_provider)
    return Telemetry(tracer_provider, meter_provider)
