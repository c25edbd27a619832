"""Observability: OpenTelemetry metrics and traces, and structured logging.

* :class:`S2SMetrics` -- the ``s2s.*`` instruments of the meter ``beluga_voice``;
* :class:`PipelineMetrics` -- a frame observer for per-frame and per-turn pipeline metrics;
* :class:`InstrumentedProvider` -- a provider wrapper recording metrics and spans;
* :func:`configure_logging`, :func:`log_context` -- JSON or text logs with the session ids;
* :func:`setup_telemetry` -- exporters from the standard ``OTEL_*`` variables.
"""

from .instrument import InstrumentedProvider, InstrumentedSession
from .logging import (
    ContextFilter,
    JsonFormatter,
    RedactingFormatter,
    bind_log_ids,
    configure_logging,
    current_log_ids,
    log_context,
)
from .metrics import METER_NAME, S2SMetrics, get_meter
from .pipeline import PipelineMetrics
from .setup import Telemetry, setup_telemetry
from .tracing import TRACER_NAME, SessionTrace, get_tracer

__all__ = [
    "METER_NAME",
    "TRACER_NAME",
    "ContextFilter",
    "InstrumentedProvider",
    "InstrumentedSession",
    "JsonFormatter",
    "PipelineMetrics",
    "RedactingFormatter",
    "S2SMetrics",
    "SessionTrace",
    "Telemetry",
    "bind_log_ids",
    "configure_logging",
    "current_log_ids",
    "get_meter",
    "get_tracer",
    "log_context",
    "setup_telemetry",
]
