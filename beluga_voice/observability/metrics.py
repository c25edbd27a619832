"""OpenTelemetry metrics of the S2S layer (meter ``beluga_voice``).

Instruments, with the attributes they carry:

* ``s2s.requests.total`` (counter): session opens, one-shot ``process`` calls and
  replies (``provider``, ``operation``: ``start_streaming`` | ``process`` | ``response``,
  ``outcome``: ``ok`` | ``error``).
* ``s2s.requests.latency`` (histogram, ms): how long each request took to be served:
  the connect for ``start_streaming``, end of user turn to first reply audio for
  ``response`` (``provider``, ``operation``).
* ``s2s.errors.total`` (counter): every provider error, including the ones retry and
  fallback hid from the user (``provider``, ``code``).
* ``s2s.provider.usage`` (counter): tokens reported by providers (``provider``,
  ``kind``: ``input_tokens`` | ``output_tokens``).
* ``s2s.provider.switches`` (counter): fallback switches (``from_provider``,
  ``to_provider``, ``reason``); ``s2s.session.reconnects`` (counter): silent reconnects.
* ``s2s.turn.time_to_first_audio`` and ``s2s.turn.latency`` (histograms, ms; the latter
  from end of user turn to end of reply), and ``s2s.turns.total`` (counter with
  ``latency_target`` and ``within_budget``): latency-target compliance is
  ``within_budget="true"`` over all turns.

Without an SDK ``MeterProvider`` installed every instrument is a no-op, so nothing is
needed to run; see :mod:`beluga_voice.observability.setup` for exporters.
"""

from __future__ import annotations

from opentelemetry import metrics
from opentelemetry.metrics import MeterProvider

from ..errors import ErrorCode, S2SError

__all__ = ["METER_NAME", "S2SMetrics", "get_meter"]

METER_NAME = "beluga_voice"


def get_meter(meter_provider: MeterProvider | None = None) -> metrics.Meter:
    """The ``beluga_voice`` meter from ``meter_provider`` (default: the global provider)."""
    provider = meter_provider or metrics.get_meter_provider()
    return provider.get_meter(METER_NAME)


class S2SMetrics:
    """The S2S instruments, created once per meter provider and shared by sessions."""

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        meter = get_meter(meter_provider)
        self.requests = meter.create_counter(
            "s2s.requests.total", unit="{request}", description="S2S requests by operation"
        )
        self.latency = meter.create_histogram(
            "s2s.requests.latency", unit="ms", description="Time to serve an S2S request"
        )
        self.errors = meter.create_counter(
            "s2s.errors.total", unit="{error}", description="S2S errors by provider and code"
        )
        self.usage = meter.create_counter(
            "s2s.provider.usage", unit="{token}", description="Tokens reported by providers"
        )
        self.switches = meter.create_counter(
            "s2s.provider.switches", unit="{switch}", description="Fallback switches"
        )
        self.reconnects = meter.create_counter(
            "s2s.session.reconnects", unit="{reconnect}", description="Silent reconnects"
        )
        self.time_to_first_audio = meter.create_histogram(
            "s2s.turn.time_to_first_audio",
            unit="ms",
            description="End of user turn to first reply audio",
        )
        self.turn_latency = meter.create_histogram(
            "s2s.turn.latency", unit="ms", description="End of user turn to end of reply"
        )
        self.turns = meter.create_counter(
            "s2s.turns.total", unit="{turn}", description="Turns by latency-target compliance"
        )

    def request(self, provider: str, operation: str, seconds: float | None, ok: bool) -> None:
        self.requests.add(
            1, {"provider": provider, "operation": operation, "outcome": "ok" if ok else "error"}
        )
        if seconds is not None:
            self.latency.record(seconds * 1000.0, {"provider": provider, "operation": operation})

    def error(self, provider: str, error: S2SError | BaseException) -> None:
        code = error.code if isinstance(error, S2SError) else ErrorCode.INTERNAL_ERROR
        self.errors.add(1, {"provider": provider, "code": code.value})

    def tokens(self, provider: str, input_tokens: int, output_tokens: int) -> None:
        if input_tokens:
            self.usage.add(input_tokens, {"provider": provider, "kind": "input_tokens"})
        if output_tokens:
            self.usage.add(output_tokens, {"provider": provider, "kind": "output_tokens"})

    def turn(
        self,
        provider: str,
        target: str,
        budget: float,
        first_audio: float | None,
        total: float | None,
    ) -> None:
        """One finished turn; ``first_audio`` / ``total`` in seconds (None: no audio)."""
        attrs = {"provider": provider}
        if first_audio is not None:
            self.time_to_first_audio.record(first_audio * 1000.0, attrs)
        if total is not None:
            self.turn_latency.record(total * 1000.0, attrs)
        within = first_audio is not None and first_audio <= budget
        self.turns.add(
            1,
            {
                "provider": provider,
                "latency_target": target,
                "within_budget": "true" if within else "false",
            },
        )
