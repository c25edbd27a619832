"""Issue 16 point 4: a reply cut by a failure is never cut silently.

A provider drops 60 ms into a 1 s reply, with retries and a fallback configured.  Under
the threshold (``replay_cut_reply_under``, default 1 s) the replacement answers the turn
again in full after the cut beginning is flushed; over it the app gets a ``reply_cut``
error.  Both through the S2S processor (pipeline) and ``VoiceSession``.
"""

from __future__ import annotations

import anyio
import pytest
from _pipeline_helpers import run_until_error

from beluga_voice.frames import (
    ErrorFrame,
    Frame,
    InputAudioFrame,
    InterruptionFrame,
    OutputAudioFrame,
)
from beluga_voice.processors import S2SProcessor
from beluga_voice.providers import S2SConfig
from beluga_voice.providers.mock import AdvancedMockS2SProvider
from beluga_voice.providers.wrap import wrap_provider
from beluga_voice.session import VoiceSession
from beluga_voice.testing import run_pipeline, tone

pytestmark = pytest.mark.anyio

RATE = 24000
ANSWER = tone(1.0, RATE, 440, 0.3)  # the whole answer: 1 s
UTTERANCE = tone(0.4, 16000, 300, 0.5) + bytes(2 * 16000 // 2)
STEP = 640


def config(**kw: object) -> S2SConfig:
    base = {
        "provider": "mock",
        "max_retries": 1,
        "retry_delay": 0.1,
        "timeout": 5,
        "enable_metrics": False,
        "enable_tracing": False,
    }
    return S2SConfig.model_validate({**base, **kw})


def providers(cfg: S2SConfig) -> tuple[AdvancedMockS2SProvider, AdvancedMockS2SProvider]:
    # The primary drops after 3 chunks of 20 ms, on every connection (its retry too).
    primary = AdvancedMockS2SProvider(
        "primary", config=cfg, audio_outputs=[ANSWER], disconnect_after_chunks=3
    )
    backup = AdvancedMockS2SProvider("backup", config=cfg, audio_outputs=[ANSWER])
    return primary, backup


def audio_of(frames: list[Frame]) -> bytes:
    return b"".join(f.audio for f in frames if isinstance(f, OutputAudioFrame))


async def test_a_reply_cut_early_is_answered_again_in_full() -> None:
    cfg = config()
    primary, backup = providers(cfg)
    s2s = S2SProcessor(wrap_provider(primary, cfg, fallbacks=[backup]))  # type: ignore[arg-type]
    frames = [
        InputAudioFrame(UTTERANCE[i : i + STEP], 16000) for i in range(0, len(UTTERANCE), STEP)
    ]
    out, task = await run_pipeline([s2s], frames, until=lambda o: audio_of(o).endswith(ANSWER))
    last_flush = max(i for i, f in enumerate(out) if isinstance(f, InterruptionFrame))
    assert audio_of(out[last_flush:]) == ANSWER  # after the last flush: the whole answer
    cut = audio_of(out[:last_flush])
    assert 0 < len(cut) < len(ANSWER)  # the beginnings that were flushed
    assert backup.turns == 1
    assert task.errors == []  # healed: nothing to tell


async def test_a_reply_cut_late_is_reported_to_the_app() -> None:
    cfg = config(replay_cut_reply_under=0.05)  # 60 ms heard is past 50 ms
    primary, backup = providers(cfg)
    s2s = S2SProcessor(wrap_provider(primary, cfg, fallbacks=[backup]))  # type: ignore[arg-type]
    frames = [
        InputAudioFrame(UTTERANCE[i : i + STEP], 16000) for i in range(0, len(UTTERANCE), STEP)
    ]
    out, task = await run_until_error([s2s], frames)
    cut = [e for e in task.errors if e.code == "reply_cut"]
    assert len(cut) == 1 and "60 ms" in cut[0].message and not cut[0].fatal
    assert len(audio_of(out)) < len(ANSWER)  # no second answer behind the user's back


@pytest.mark.parametrize("threshold", [None, 0.05])
async def test_voice_session_setting(threshold: float | None) -> None:
    cfg = config()
    primary, backup = providers(cfg)
    wrapped = wrap_provider(primary, cfg, fallbacks=[backup])
    audio = bytearray()
    errors: list[ErrorFrame] = []
    done = anyio.Event()

    def on_audio(pcm: bytes) -> None:
        audio.extend(pcm)
        if bytes(audio).endswith(ANSWER):
            done.set()

    def on_error(frame: ErrorFrame) -> None:
        errors.append(frame)
        done.set()

    with anyio.fail_after(10):
        async with VoiceSession(
            s2s_provider=wrapped,  # type: ignore[arg-type]
            on_audio=on_audio,
            on_error=on_error,
            replay_cut_reply_under=threshold,
            input_sample_rate=16000,
            output_sample_rate=RATE,
        ) as session:
            for i in range(0, len(UTTERANCE), STEP):
                await session.process_audio(UTTERANCE[i : i + STEP])
            await done.wait()
    if threshold is None:  # default 1 s: answered again in full
        assert bytes(audio).endswith(ANSWER) and not errors
    else:
        assert [e.code for e in errors] == ["reply_cut"]
