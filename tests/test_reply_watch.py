"""ReplyWatch: what a graceful end of an S2S session waits for."""

from __future__ import annotations

import anyio
import numpy as np
import pytest

from beluga_voice.processors.reply_watch import ReplyWatch

pytestmark = pytest.mark.anyio

SOUND = (np.sin(np.arange(320) / 3) * 3000).astype("<i2").tobytes()


async def test_nothing_owed_settles_at_once() -> None:
    watch = ReplyWatch()
    watch.audio_sent(bytes(640))  # digital silence holds no turn
    watch.audio_sent((np.ones(320) * 20).astype("<i2").tobytes())  # nor near-silence
    with anyio.fail_after(0.1):
        assert await watch.settled(settle=5, patience=5)


async def test_a_turn_that_ended_waits_for_its_reply() -> None:
    watch = ReplyWatch()
    watch.audio_sent(SOUND)
    watch.speech_started()
    watch.speech_stopped()
    async with anyio.create_task_group() as tg:

        async def provider() -> None:
            await anyio.wait_all_tasks_blocked()
            watch.reply_started()
            await anyio.wait_all_tasks_blocked()
            watch.reply_done()

        tg.start_soon(provider)
        with anyio.fail_after(2):
            assert await watch.settled(settle=5, patience=5)
    assert not watch.busy


async def test_sound_nobody_reacted_to_is_given_a_short_quiet_window() -> None:
    watch = ReplyWatch()
    watch.audio_sent(SOUND)
    start = anyio.current_time()
    assert await watch.settled(settle=0.05, patience=5)
    assert anyio.current_time() - start >= 0.05


async def test_a_reply_that_never_comes_is_given_up_after_the_patience() -> None:
    watch = ReplyWatch()
    watch.turn_ended()
    with anyio.fail_after(2):
        assert not await watch.settled(settle=5, patience=0.05)


async def test_a_user_still_speaking_is_told_once_that_the_input_ended() -> None:
    watch = ReplyWatch()
    watch.speech_started()
    told = 0

    async def pause() -> None:
        nonlocal told
        told += 1
        watch.speech_stopped()  # the provider's detector hears the pause
        watch.reply_started()
        watch.reply_done()

    with anyio.fail_after(2):
        assert await watch.settled(settle=5, patience=5, on_user_speaking=pause)
    assert told == 1
