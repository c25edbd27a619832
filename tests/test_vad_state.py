"""The VAD state machine and VADStream, driven by scripted confidences and audio."""

from __future__ import annotations

import numpy as np
import pytest
import soxr
from pydantic import ValidationError

from beluga_voice.audio.vad import (
    VADEventKind,
    VADParams,
    VADState,
    VADStream,
    VoiceActivityTracker,
    detect_speech,
    volume,
)
from beluga_voice.audio.vad.state import energy_volume
from beluga_voice.testing.speech_corpus import speech

FRAME = 0.01
S, Q = (1.0, 0.8), (0.0, 0.0)  # a speech frame, a quiet frame (confidence, volume)


def drive(tracker: VoiceActivityTracker, script: list[tuple[tuple[float, float], float]]):  # type: ignore[no-untyped-def]
    """Feed ``(frame, seconds)`` runs; return every event with the state after each run."""
    events = []
    for (conf, vol), secs in script:
        for _ in range(round(secs / FRAME)):
            events += tracker.update(conf, vol, FRAME)
    return events


def kinds(events) -> list[VADEventKind]:  # type: ignore[no-untyped-def]
    return [e.kind for e in events]


def test_start_and_stop_with_back_dated_times() -> None:
    t = VoiceActivityTracker(VADParams(start_secs=0.2, stop_secs=0.5))
    events = drive(t, [(Q, 1.0), (S, 0.15)])
    assert events == [] and t.state is VADState.STARTING
    events = drive(t, [(S, 1.0)])
    assert kinds(events) == [VADEventKind.STARTED]
    assert events[0].speech_time == pytest.approx(1.0)
    assert events[0].at == pytest.approx(1.2)
    events = drive(t, [(Q, 0.4)])
    assert events == [] and t.state is VADState.STOPPING and t.speaking
    events = drive(t, [(Q, 0.2)])
    assert kinds(events) == [VADEventKind.STOPPED]
    assert events[0].speech_time == pytest.approx(2.15)
    assert events[0].at == pytest.approx(2.65)
    assert t.state is VADState.QUIET


def test_short_burst_never_starts() -> None:
    t = VoiceActivityTracker(VADParams(start_secs=0.2))
    assert drive(t, [(S, 0.15), (Q, 0.5), (S, 0.15), (Q, 0.5)]) == []
    assert t.state is VADState.QUIET


def test_gap_inside_onset_window_is_tolerated() -> None:
    t = VoiceActivityTracker(VADParams(start_secs=0.2, start_gap_secs=0.1))
    events = drive(t, [(S, 0.1), (Q, 0.05), (S, 0.1)])
    assert kinds(events) == [VADEventKind.STARTED]
    assert events[0].speech_time == pytest.approx(0.0)
    t2 = VoiceActivityTracker(VADParams(start_secs=0.2, start_gap_secs=0.1))
    events = drive(t2, [(S, 0.1), (Q, 0.15), (S, 0.2)])
    assert events[0].speech_time == pytest.approx(0.25)  # the gap was too long: restart


def test_pause_shorter_than_stop_secs_keeps_speaking() -> None:
    t = VoiceActivityTracker(VADParams(stop_secs=0.5))
    events = drive(t, [(S, 0.5), (Q, 0.4), (S, 0.5), (Q, 0.6)])
    assert kinds(events) == [VADEventKind.STARTED, VADEventKind.STOPPED]


def test_confidence_and_min_volume_gate_speech() -> None:
    params = VADParams(confidence=0.6, min_volume=0.5)
    t = VoiceActivityTracker(params)
    assert drive(t, [((0.59, 0.9), 1.0), ((0.9, 0.49), 1.0)]) == []
    assert kinds(drive(t, [((0.6, 0.5), 0.3)])) == [VADEventKind.STARTED]


def test_barge_in_only_while_bot_speaks_and_only_for_real_speech() -> None:
    params = VADParams(start_secs=0.2, interrupt_min_secs=0.5, stop_secs=0.3)
    t = VoiceActivityTracker(params)
    assert kinds(drive(t, [(S, 1.0), (Q, 0.5)])) == [VADEventKind.STARTED, VADEventKind.STOPPED]
    t.bot_speaking = True
    cough = drive(t, [(S, 0.3), (Q, 0.5)])
    assert VADEventKind.INTERRUPT not in kinds(cough)
    talk = drive(t, [(S, 1.5)])
    assert kinds(talk) == [VADEventKind.STARTED, VADEventKind.INTERRUPT]
    assert talk[1].at - talk[1].speech_time == pytest.approx(0.5)
    assert VADEventKind.INTERRUPT not in kinds(drive(t, [(S, 2.0)]))  # once per utterance


def test_params_are_validated() -> None:
    with pytest.raises(ValidationError):
        VADParams(confidence=1.5)
    with pytest.raises(ValidationError):
        VADParams(start_secs=-1)
    with pytest.raises(ValidationError, match="interrupt_min_secs"):
        VADParams(start_secs=0.5, interrupt_min_secs=0.2)
    with pytest.raises(ValidationError):
        VADParams(stop_sec=1)  # type: ignore[call-arg]


def test_volume_scale() -> None:
    assert volume(0.0) == 0.0
    assert volume(1.0) == 1.0
    assert volume(10 ** (-30 / 20)) == pytest.approx(0.5)


def test_stream_handles_any_rate_channels_and_chunking() -> None:
    x = np.asarray(speech("Good morning, everyone."))
    pad = np.zeros(16000, np.int16)
    mono16 = np.concatenate([pad, x, pad, pad])

    x48 = np.rint(soxr.resample(mono16.astype(np.float32), 16000, 48000)).astype(np.int16)
    stereo = np.repeat(x48, 2).astype("<i2").tobytes()
    stream = VADStream()
    events = []
    rng = np.random.default_rng(0)
    i = 0
    while i < len(stereo):
        n = 4 * int(rng.integers(0, 600))
        events += stream.feed(stereo[i : i + n], 48000, channels=2)
        i += n
    assert kinds(events) == [VADEventKind.STARTED, VADEventKind.STOPPED]
    assert events[0].speech_time == pytest.approx(1.0, abs=0.06)
    assert events[1].speech_time == pytest.approx(1.0 + x.size / 16000, abs=0.1)


def test_stream_bad_input() -> None:
    stream = VADStream()
    assert stream.feed(b"", 16000) == []
    with pytest.raises(ValueError, match="odd byte count"):
        stream.feed(b"\x00" * 3, 16000)
    with pytest.raises(ValueError, match="sample rate"):
        stream.feed(b"\x00" * 4, 123)
    with pytest.raises(ValueError, match="2 channel"):
        stream.feed(b"\x00" * 6, 16000, channels=2)
    assert stream.feed(bytes(3200), 16000) == []  # still usable after the errors


def test_detect_speech_closes_an_open_segment_at_the_end() -> None:
    x = np.concatenate([np.zeros(8000, np.int16), np.asarray(speech("hello world"))])
    segments = detect_speech(x.astype("<i2").tobytes(), 16000)
    assert len(segments) == 1
    assert segments[0].end == pytest.approx(x.size / 16000, abs=0.011)


def test_energy_volume_is_volume_of_the_rms() -> None:
    for rms in (0.0, 5e-4, 1e-3, 1.01e-3, 0.01, 0.3, 1.0, 2.0):
        e = (rms * 32768.0) ** 2
        assert energy_volume(e) == pytest.approx(volume(rms), abs=1e-12)


def test_stream_same_events_whole_frames_or_ragged_chunks() -> None:
    """The zero-copy path (whole frames, nothing pending) and the buffered one agree."""
    x = np.concatenate([np.zeros(8000, np.int16), np.asarray(speech("good morning"))])
    x = np.concatenate([x, np.zeros(16000, np.int16)]).astype("<i2").tobytes()
    results = []
    for step in (640, 320, 322, 1000):
        stream = VADStream()
        events = []
        for i in range(0, len(x), step):
            events += stream.feed(x[i : i + step], 16000)
        results.append((events, stream.tracker.time))
    assert kinds(results[0][0]) == [VADEventKind.STARTED, VADEventKind.STOPPED]
    for events, time in results[1:]:
        assert events == results[0][0]
        assert time == pytest.approx(results[0][1], abs=0.011)


def test_stream_rechecks_a_rate_of_another_type() -> None:
    stream = VADStream()
    assert stream.feed(bytes(640), 16000) == []
    with pytest.raises(ValueError, match="sample rate"):
        stream.feed(bytes(640), 16000.0)  # type: ignore[arg-type]


def test_tracker_advance_appends_what_update_returns() -> None:
    a, b = VoiceActivityTracker(), VoiceActivityTracker()
    appended: list = []  # type: ignore[type-arg]
    returned = []
    for conf, vol in [S] * 30 + [Q] * 90:
        a.advance(conf, vol, FRAME, appended)
        returned += b.update(conf, vol, FRAME)
    assert appended == returned and len(appended) == 2
