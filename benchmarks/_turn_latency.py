"""The turn-latency loop the wire benchmarks share (``nova_wire.py``, ``realtime_wire.py``).

One definition of "latency of a turn" for every provider benchmark, so their figures
measure the same thing: from the moment the last chunk of a user turn has been sent to the
first reply audio chunk that comes back, waiting for ``ResponseDone`` before the next turn.
"""

from __future__ import annotations

import time

from beluga_voice.providers.base import StreamingSession
from beluga_voice.providers.events import AudioChunk, ResponseDone


async def first_audio_latencies(
    session: StreamingSession, user: bytes, chunk_bytes: int, turns: int
) -> list[float]:
    """Send ``user`` in ``chunk_bytes`` pieces ``turns`` times; seconds to first reply audio."""
    latencies: list[float] = []
    for _ in range(turns):
        for i in range(0, len(user), chunk_bytes):
            await session.send_audio(user[i : i + chunk_bytes])
        sent = time.perf_counter()
        first: float | None = None
        async for event in session:
            if isinstance(event, AudioChunk) and event.audio and first is None:
                first = time.perf_counter()
            if isinstance(event, ResponseDone):
                break
        assert first is not None
        latencies.append(first - sent)
    return latencies
