"""When to move to a new connection, and with which resumption handle.

Without ``lastConsumedClientMessageIndex`` (the Developer API) a handle covers everything
written more than ``replay_margin_s`` before it arrived, and maybe some of what was
written since.  That uncertain part is replayed, so it is what a resumption can repeat:
:attr:`SwitchPlan.repeat_bound`.  Written at a microphone's pace it holds at most
``replay_margin_s`` of audio, but a replay goes out in one burst, and a handle arriving
within the margin after it may cover any part of the burst.  After ``goAway`` the switch
therefore waits for a *settled* handle (repeat bound within the margin), unless the
server's deadline leaves no time for one: waiting would then only add live audio to the
uncertain part.
"""

from __future__ import annotations

import logging
import math

from .replay import ReplayLog

__all__ = ["SwitchPlan"]

log = logging.getLogger("beluga_voice.providers.gemini")

_HANDLE_SLACK_S = 0.25  # time for one more handle to arrive once one could settle


class SwitchPlan:
    """Handles, goAway and the deadline of one logical session (see the module docstring)."""

    def __init__(self, margin_s: float, bytes_per_s: int) -> None:
        self.margin_s = margin_s
        self.bytes_per_s = bytes_per_s
        self.margin_bytes = int(margin_s * bytes_per_s)
        self.handle: str | None = None
        self.go_away = False
        self.repeat_bound = 0
        """Audio bytes the newest handle may cover although they are kept for replay."""
        self._switch_by: float | None = None
        self._burst_at = -math.inf

    def new_connection(self) -> None:
        self.go_away = False
        self._switch_by = None

    def replayed(self, audio_bytes: int, now: float) -> None:
        """A replay went out at ``now``: handles within the margin cannot settle."""
        if audio_bytes > self.margin_bytes:
            self._burst_at = now

    def go_away_received(self, time_left: float | None, now: float) -> None:
        if not self.go_away and time_left is not None:
            # Keep a little of the time left for the switch itself.
            self._switch_by = now + time_left - min(1.0, time_left / 2)
        self.go_away = True

    def handle_received(
        self, handle: str, last_index: int | None, replay: ReplayLog, now: float
    ) -> None:
        """Trim ``replay`` to what ``handle`` may not cover, and note the repeat bound."""
        self.handle = handle
        if last_index is not None:
            replay.covered_through(last_index)
            self.repeat_bound = 0
            return
        replay.covered_before(now - self.margin_s)
        # Everything still in the log was written before this handle arrived: the
        # server may have taken any prefix of it into the handle.
        self.repeat_bound = replay.sent_audio_bytes

    @property
    def settled(self) -> bool:
        return self.repeat_bound <= self.margin_bytes

    def due(self, now: float) -> bool:
        """Switch now, given that the session could (goAway, a handle, no reply running)."""
        if self.settled:
            return True
        settles_at = self._burst_at + self.margin_s + _HANDLE_SLACK_S
        deadline = self._switch_by
        if deadline is not None and (now >= deadline or settles_at > deadline):
            log.warning(
                "gemini: no settled handle before the goAway deadline: up to %.2f s of "
                "audio may be sent twice",
                self.repeat_bound / self.bytes_per_s,
            )
            return True
        return False

    def wait(self, now: float) -> float | None:
        """Seconds until a pending switch must happen anyway (``None``: no such deadline)."""
        if not self.go_away or self._switch_by is None or self.settled:
            return None
        return max(0.0, self._switch_by - now)
