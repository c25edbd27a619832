"""TurnProcessor: end of turn after silence, smarter analysers, resets."""

from __future__ import annotations

import numpy as np
import pytest

from beluga_voice.audio.vad import VADParams
from beluga_voice.frames import (
    Frame,
    InputAudioFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    UserTurnEndedFrame,
)
from beluga_voice.processors.turn import TurnAnalyzer, TurnProcessor, UserTurn
from beluga_voice.processors.vad import VADProcessor, VADStoppedSpeakingFrame
from beluga_voice.testing import run_pipeline
from beluga_voice.testing.speech_corpus import speech

pytestmark = pytest.mark.anyio
RATE = 16000


def quiet(secs: float) -> list[InputAudioFrame]:
    return [InputAudioFrame(bytes(640), RATE) for _ in range(round(secs / 0.02))]


def loud(secs: float) -> list[InputAudioFrame]:
    pcm = (np.ones(320) * 5000).astype("<i2").tobytes()
    return [InputAudioFrame(pcm, RATE) for _ in range(round(secs / 0.02))]


def stopped(at: float) -> VADStoppedSpeakingFrame:
    """The VAD's stop decision at stream time ``at`` (system frames overtake audio)."""
    return VADStoppedSpeakingFrame(speech_time=at, stream_time=at)


def turn_ends(out: list[Frame]) -> list[int]:
    """Indexes (counted in audio frames seen before) where UserTurnEndedFrame appeared."""
    marks, n = [], 0
    for f in out:
        if isinstance(f, InputAudioFrame):
            n += 1
        elif isinstance(f, UserTurnEndedFrame):
            marks.append(n)
    return marks


async def test_turn_ends_after_configured_silence() -> None:
    frames = [
        UserStartedSpeakingFrame(),
        *loud(0.5),
        stopped(0.5),
        *quiet(1.0),
    ]
    proc = TurnProcessor(silence_secs=0.4)
    out, task = await run_pipeline([proc], frames)
    assert not task.errors
    assert turn_ends(out) == [25 + 20]  # 0.4 s = 20 frames of 20 ms after the stop
    assert proc.turns_ended == 1 and not proc.in_turn


async def test_plain_stop_frame_counts_from_arrival() -> None:
    proc = TurnProcessor()
    out, _ = await run_pipeline([proc], [UserStartedSpeakingFrame(), *loud(0.2)])
    assert turn_ends(out) == []
    out, _ = await run_pipeline(
        [TurnProcessor()], [UserStartedSpeakingFrame(), *loud(0.2), UserStoppedSpeakingFrame()]
    )
    assert len([f for f in out if isinstance(f, UserTurnEndedFrame)]) == 1


async def test_speech_again_before_the_silence_keeps_the_turn_open() -> None:
    frames = [
        UserStartedSpeakingFrame(),
        *loud(0.3),
        stopped(0.3),
        *quiet(0.2),
        UserStartedSpeakingFrame(),
        *loud(0.3),
        stopped(0.8),
        *quiet(0.6),
    ]
    out, _ = await run_pipeline([TurnProcessor(silence_secs=0.5)], frames)
    assert turn_ends(out) == [15 + 10 + 15 + 25]


class NeedsFullStop:
    """A 'semantic' analyser: the turn is complete only when the text ends with '.'."""

    def __init__(self) -> None:
        self.seen: list[UserTurn] = []

    async def is_turn_complete(self, turn: UserTurn) -> bool:
        self.seen.append(turn)
        return turn.transcript.endswith(".")


async def test_smart_analyser_can_hold_the_turn_until_max_silence() -> None:
    analyzer = NeedsFullStop()
    assert isinstance(analyzer, TurnAnalyzer)
    frames = [
        UserStartedSpeakingFrame(),
        *loud(0.4),
        TranscriptionFrame("I would like a table for", final=True),
        TranscriptionFrame("ignored interim", final=False),
        stopped(0.4),
        *quiet(2.0),
    ]
    proc = TurnProcessor(silence_secs=0.2, analyzer=analyzer, max_silence_secs=1.0)
    out, _ = await run_pipeline([proc], frames)
    assert turn_ends(out) == [20 + 50]  # held by the analyser, ended at max_silence_secs
    assert len(analyzer.seen) == 1
    turn = analyzer.seen[0]
    assert turn.transcript == "I would like a table for"
    assert turn.sample_rate == RATE and len(turn.audio) == 2 * int(0.6 * RATE)
    assert turn.silence_secs == pytest.approx(0.2)


async def test_smart_analyser_can_end_the_turn_early() -> None:
    frames = [
        UserStartedSpeakingFrame(),
        *loud(0.4),
        TranscriptionFrame("Four people, please.", final=True),
        stopped(0.4),
        *quiet(2.0),
    ]
    proc = TurnProcessor(silence_secs=0.2, analyzer=NeedsFullStop(), max_silence_secs=1.0)
    out, _ = await run_pipeline([proc], frames)
    assert turn_ends(out) == [20 + 10]


async def test_turn_audio_is_capped() -> None:
    analyzer = NeedsFullStop()
    frames = [UserStartedSpeakingFrame(), *loud(2.0), stopped(2.0), *quiet(0.1)]
    await run_pipeline([TurnProcessor(analyzer=analyzer, max_turn_audio_secs=0.5)], frames)
    assert len(analyzer.seen[0].audio) == 2 * 8000


async def test_with_the_real_vad_on_speech() -> None:
    x = np.concatenate(
        [np.zeros(8000, np.int16), speech("Book it for Friday."), np.zeros(32000, np.int16)]
    )
    pcm = x.astype("<i2")
    frames = [InputAudioFrame(pcm[i : i + 320].tobytes(), RATE) for i in range(0, pcm.size, 320)]
    vad = VADProcessor(params=VADParams(stop_secs=0.3))
    out, task = await run_pipeline([vad, TurnProcessor(silence_secs=0.5)], frames)
    assert not task.errors
    [end] = turn_ends(out)
    speech_end = vad.events[1].speech_time
    assert end * 0.02 == pytest.approx(speech_end + 0.8, abs=0.05)


def test_bad_settings() -> None:
    with pytest.raises(ValueError, match="silence_secs"):
        TurnProcessor(silence_secs=-1)
    with pytest.raises(ValueError, match="max_silence_secs"):
        TurnProcessor(silence_secs=5, max_silence_secs=1)
    with pytest.raises(ValueError, match="max_turn_audio_secs"):
        TurnProcessor(max_turn_audio_secs=0)
