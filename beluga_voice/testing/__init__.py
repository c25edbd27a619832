"""Offline stand-ins for real services: fake provider servers and helpers.

Users can run these too, to develop and test voice apps with no API key and no network.
"""

from .harness import run_pipeline
from .speech import EnergyTurnDetector, TurnEvent, tone

__all__ = ["EnergyTurnDetector", "TurnEvent", "run_pipeline", "tone"]
