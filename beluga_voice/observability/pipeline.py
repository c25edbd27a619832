"""Moved: the pipeline observer lives in :mod:`beluga_voice.pipeline.metrics`."""

from __future__ import annotations

from .._moved import moved_names

__getattr__ = moved_names(__name__, "beluga_voice.pipeline.metrics", ["PipelineMetrics"])
