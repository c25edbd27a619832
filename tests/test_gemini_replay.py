"""Gemini resumption on real sockets: every audio byte the fake server takes in is counted.

The Developer API's handles say nothing of which client message they cover, so a
resumption replays what was written just before the handle arrived.  The promise in
docs/providers/gemini.md: nothing is lost, and no resumption repeats more than
``replay_margin_s`` of audio, with goAway at any moment (even while a replay is still
being read), several resumptions in a row, and handles arriving before or after a replay.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from _gemini_helpers import CHUNK, KEY, of, stream_then_text

from beluga_voice.providers.events import ResponseDone, SessionReconnected
from beluga_voice.providers.gemini_live import GeminiLiveProtocol, GeminiSettings, Phase
from beluga_voice.testing.fake_gemini import FakeGeminiServer, ScriptedTurn
from beluga_voice.testing.speech import tone

pytestmark = pytest.mark.anyio

MARGIN_S = 0.2
MARGIN_CHUNKS = round(MARGIN_S * 16000 * 2 / CHUNK)


def unique_audio(chunks: int, seed: int = 11) -> list[bytes]:
    """Quiet noise (below the fake's VAD) in chunks that are all different."""
    rng = np.random.default_rng(seed)
    out = [
        rng.integers(-60, 60, CHUNK // 2, dtype="<i2").astype("<i2").tobytes()
        for _ in range(chunks)
    ]
    assert len(set(out)) == chunks
    return out


def seams(heard: bytes, chunks: list[bytes]) -> list[int]:
    """Walk what the model heard (after every rollback) and return the repeat at each seam,
    in chunks; fail on any loss (a chunk skipped) or anything not sent."""
    where = {c: i for i, c in enumerate(chunks)}
    order = [where[heard[i : i + CHUNK]] for i in range(0, len(heard), CHUNK)]
    repeats = []
    for before, after in itertools.pairwise(order):
        if after != before + 1:
            assert after <= before, f"chunks {before + 1}..{after - 1} were lost"
            repeats.append(before - after + 1)
    assert sorted(set(order)) == list(range(len(chunks))), "some audio never arrived"
    return repeats


@pytest.mark.parametrize(
    ("plan", "after_setup"),
    [
        # goAway while the replay is still being read (3rd message of connections 2 and 4),
        # a handle right after setupComplete (before any replay) and every 5 messages.
        ((40, 3, 25, 2, None), True),
        ((30, 8, 1, 20, None), False),
    ],
)
async def test_resumptions_repeat_at_most_the_margin_and_lose_nothing(
    plan: tuple[int | None, ...], after_setup: bool
) -> None:
    chunks = unique_audio(150)  # 3 s of live audio
    async with FakeGeminiServer(
        [ScriptedTurn(audio=tone(0.1, 24000))],
        api_key=KEY,
        go_away_after_audio=plan,
        go_away_grace_s=1.2,
        handle_after_setup=after_setup,
    ) as server:
        session, events = await stream_then_text(
            server, b"".join(chunks), pace=0.02, timeout=30, replay_margin_s=MARGIN_S
        )
    moves = of(events, SessionReconnected)
    assert session.reconnections == len(moves) == len(plan) - 1  # several in a row
    [state] = server.states
    repeats = seams(bytes(state.audio), chunks)
    assert all(r <= MARGIN_CHUNKS for r in repeats), repeats
    received = sum(len(pcm) for _, pcm in server.audio_in)
    sent = len(chunks) * CHUNK
    # Bytes that reached the server twice: repeats the model heard, plus what a handle
    # rolled back (written after the handle was made; the server forgot it on resuming).
    assert received - sent <= len(moves) * (MARGIN_CHUNKS * CHUNK + 2.0 * 32000)
    assert of(events, ResponseDone)[-1].status == "completed"
    assert server.violations == []


async def test_without_a_settled_handle_the_close_still_loses_nothing() -> None:
    """No periodic handles: only one with each goAway and one after setupComplete, so the
    handle of the second goAway arrives while the replay is being read.  The switch waits
    for the deadline, then replays the uncertain part: repeats, but no loss."""
    chunks = unique_audio(60, seed=5)
    async with FakeGeminiServer(
        [ScriptedTurn(audio=tone(0.1, 24000))],
        api_key=KEY,
        go_away_after_audio=(20, 2, None),
        go_away_grace_s=0.6,
        handle_after_setup=True,
        resumption_every=10_000,
    ) as server:
        session, events = await stream_then_text(
            server, b"".join(chunks), pace=0.02, timeout=30, replay_margin_s=MARGIN_S
        )
    assert session.reconnections == 2
    [state] = server.states
    seams(bytes(state.audio), chunks)  # no loss, in order
    assert of(events, ResponseDone)[-1].status == "completed"


# -- the rule, on a fake clock ------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def handle(name: str) -> str:
    return json.dumps({"sessionResumptionUpdate": {"newHandle": name, "resumable": True}})


def test_a_handle_soon_after_a_replay_does_not_trigger_the_switch() -> None:
    """The old code switched on it and replayed the whole burst a second time."""
    clock = Clock()
    core = GeminiLiveProtocol(GeminiSettings(replay_margin_s=0.5), clock=clock)
    core.start_connection()
    core.receive('{"setupComplete": {}}')
    for _ in range(100):  # 2 s at a microphone's pace
        core.send_audio(bytes(CHUNK))
        clock.now += 0.02
    core.receive(handle("h1"))
    assert core.handle_settled and core.repeat_bound <= 0.5 * 32000
    for _ in range(50):  # 1 s more that no handle covers
        core.send_audio(bytes(CHUNK))
        clock.now += 0.02
    core.receive('{"goAway": {"timeLeft": "4s"}}')
    assert core.reconnect_wanted
    core.start_connection()
    core.receive('{"setupComplete": {}}')
    burst = core.take_ready()  # about 1.5 s of audio, written at once
    assert len(burst) >= 70
    clock.now += 0.05
    core.receive(handle("h2"))  # may cover any part of the burst
    assert not core.handle_settled
    core.receive('{"goAway": {"timeLeft": "4s"}}')
    assert not core.reconnect_wanted  # wait for a handle that bounds the repeat
    assert core.switch_wait() == pytest.approx(3.0)
    for _ in range(30):
        core.send_audio(bytes(CHUNK))
        clock.now += 0.02
    core.receive(handle("h3"))  # 0.6 s after the burst: covers all of it
    assert core.handle_settled and core.reconnect_wanted
    assert core.resume_handle == "h3" and core.phase == Phase.OPEN


def test_the_goaway_deadline_forces_the_switch() -> None:
    clock = Clock()
    core = GeminiLiveProtocol(GeminiSettings(replay_margin_s=0.1), clock=clock)
    core.start_connection()
    core.receive('{"setupComplete": {}}')
    for _ in range(50):
        core.send_audio(bytes(CHUNK))  # one burst
    core.receive(handle("h1"))
    core.receive('{"goAway": {"timeLeft": "1.5s"}}')
    assert not core.reconnect_wanted and core.switch_wait() == pytest.approx(0.75)
    clock.now += 0.75
    assert core.reconnect_wanted  # the deadline: go, replaying all that is uncertain
    assert core.repeat_bound == 50 * CHUNK


def test_no_wait_when_the_deadline_leaves_no_time_to_settle() -> None:
    """Waiting would only add live audio to the uncertain part: switch at once."""
    clock = Clock()
    core = GeminiLiveProtocol(GeminiSettings(replay_margin_s=0.5), clock=clock)
    core.start_connection()
    core.receive('{"setupComplete": {}}')
    core.receive(handle("h1"))
    for _ in range(100):
        core.send_audio(bytes(CHUNK))
        clock.now += 0.02
    core.receive('{"goAway": {"timeLeft": "5s"}}')
    core.start_connection()  # the switch (h1 is settled: nothing was in flight)
    core.receive('{"setupComplete": {}}')
    assert len(core.take_ready()) == 100  # a 2 s burst
    core.receive(handle("h2"))
    core.receive('{"goAway": {"timeLeft": "1s"}}')  # switch by +0.5 s; settling takes 0.75
    assert not core.handle_settled and core.reconnect_wanted
