"""How fast a scripted caller runs a conversation on the virtual clock.

    .venv/bin/python benchmarks/caller_clock.py

Prints, for the mock provider (a minute of conversation: lines, replies, a barge-in and
silences) and for the embedded offline agent (pocketsphinx + rules + espeak-ng), the
conversation's length on the caller's clock, the wall time it took, and the ratio.
"""

from __future__ import annotations

import time

import anyio

from beluga_voice.providers import new_provider
from beluga_voice.providers.mock import AdvancedMockS2SProvider
from beluga_voice.testing import Caller
from beluga_voice.testing.speech import tone


async def minute_with_mock() -> tuple[float, float]:
    provider = AdvancedMockS2SProvider(audio_outputs=[tone(2.0)], transcripts=["Sure."])
    started = time.perf_counter()
    async with Caller(provider) as call:
        while call.clock.now() < 60_000:
            await call.say("tell me about the weather tomorrow")
            await call.say("and the day after", barge_in_after_ms=500)
            await call.silence(3000)
    return call.clock.now() / 1000, time.perf_counter() - started


async def offline_agent() -> tuple[float, float]:
    provider = new_provider("local")
    started = time.perf_counter()
    async with Caller(provider) as call:
        await call.say("what is two plus three")
        await call.say("what can you do", barge_in_after_ms=400)
        await call.say("what is twelve times three")
    return call.clock.now() / 1000, time.perf_counter() - started


async def main() -> None:
    for name, run in (("mock, one minute", minute_with_mock), ("offline agent", offline_agent)):
        talk, wall = await run()
        print(
            f"{name:18} {talk:6.1f} s of conversation in {wall:5.2f} s wall ({talk / wall:5.0f}x)"
        )


if __name__ == "__main__":
    anyio.run(main)
