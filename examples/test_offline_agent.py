"""Testing a voice agent like code: the bundled offline agent, called by a scripted user.

Run it with pytest (the ``caller`` fixture comes with beluga-voice's pytest plugin)::

    pytest examples/test_offline_agent.py

The caller speaks with the embedded espeak-ng voice, the agent hears it through
pocketsphinx and answers with espeak-ng: no network, no API key.  On the virtual clock
(the default) the whole conversation, about eight seconds of talk including a barge-in,
runs in a fraction of a second.
"""

from __future__ import annotations

import pytest

from beluga_voice.providers import S2SProvider, new_provider
from beluga_voice.testing.pytest_plugin import CallerFactory


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def agent() -> S2SProvider:
    return new_provider("local")  # building the engines once serves every test


@pytest.mark.anyio
async def test_arithmetic_and_barge_in(caller: CallerFactory, agent: S2SProvider) -> None:
    async with caller(agent) as call:
        first = await call.say("what is two plus three")
        helping = await call.say("what can you do", barge_in_after_ms=400)
        after = await call.say("what is twelve times three")

    assert first.transcript == "what is two plus three"
    assert first.reply.mentions("5")
    assert first.reply.first_audio_ms is not None and first.reply.first_audio_ms < 800

    assert helping.interrupted  # the next line talked over the help text ...
    assert helping.reply.played_ms < helping.reply.duration_ms / 2  # ... and it stopped
    assert after.reply.mentions("36") and not after.interrupted


@pytest.mark.anyio
async def test_silence_gets_no_answer(caller: CallerFactory, agent: S2SProvider) -> None:
    async with caller(agent) as call:
        await call.silence(3000)
    assert call.turns == [] and call.greeting is None
