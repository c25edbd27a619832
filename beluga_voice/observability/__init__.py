"""Observability: OpenTelemetry metrics and traces, and structured logging.

* :class:`S2SMetrics` -- the ``s2s.*`` instruments of the meter ``beluga_voice``;
* :func:`configure_logging`, :func:`log_context` -- JSON or text logs with the session ids;
* :func:`setup_telemetry` -- exporters from the standard ``OTEL_*`` variables.

These are the primitives every room may use, so this package imports nothing above the
ground floor.  What applies them lives with what it observes:
:class:`~beluga_voice.pipeline.metrics.PipelineMetrics` (a frame observer) in the pipeline
package, :class:`~beluga_voice.providers.instrumented.InstrumentedProvider` (a provider
wrapper) in the providers package.  Their old names here work for one release.
"""

from typing import Any

from .._moved import moved_names
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
from .setup import Telemetry, setup_telemetry
from .tracing import TRACER_NAME, SessionTrace, get_tracer

__all__ = [
    "METER_NAME",
    "TRACER_NAME",
    "ContextFilter",
    "JsonFormatter",
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

_from_pipeline = moved_names(__name__, "beluga_voice.pipeline.metrics", ["PipelineMetrics"])
_from_providers = moved_names(
    __name__, "beluga_voice.providers.instrumented", ["InstrumentedProvider", "InstrumentedSession"]
)


def __getattr__(name: str) -> Any:
    if name == "PipelineMetrics":
        return _from_pipeline(name)
    return _from_providers(name)
