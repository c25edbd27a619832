"""Fallback wrapper: mid-session switches with replay, latency and stall detection,
circuit breaker and recovery probes."""

from __future__ import annotations

import anyio
import pytest
from _resilience_faults import CHUNK, DeadProvider, DroppingMock, delivered, utterance

from beluga_voice.providers.circuit import BreakerState, CircuitBreaker
from beluga_voice.providers.config import S2SConfig
from beluga_voice.providers.errors import ErrorCode
from beluga_voice.providers.events import (
    AudioChunk,
    Interrupted,
    ProviderSwitched,
    ResponseDone,
    SessionClosed,
    SessionError,
    SessionEvent,
)
from beluga_voice.providers.fallback import FallbackProvider, FallbackSettings
from beluga_voice.providers.mock import AdvancedMockS2SProvider
from beluga_voice.providers.types import AudioInput, ProviderCapabilities

pytestmark = pytest.mark.anyio

CONFIG = S2SConfig(provider="mock", timeout=5, latency_target="low")


async def converse(session, chunks: list[bytes], *, until_done: int = 1) -> list[SessionEvent]:
    events: list[SessionEvent] = []
    done = 0
    with anyio.fail_after(10):
        for chunk in chunks:
            await session.send_audio(chunk)
        async for event in session:
            events.append(event)
            if isinstance(event, ResponseDone) and event.status == "completed":
                done += 1
                if done == until_done:
                    break
    return events


def switches(events: list[SessionEvent]) -> list[ProviderSwitched]:
    return [e for e in events if isinstance(e, ProviderSwitched)]


async def test_failure_mid_turn_switches_and_replays_the_turn() -> None:
    primary = DroppingMock("primary", drop_after_audio=10)
    backup = DroppingMock("backup")
    turn = utterance(0)
    fb = FallbackProvider([primary, backup], CONFIG)
    async with await fb.start_streaming() as session:
        events = await converse(session, turn)
    [switch] = switches(events)
    assert (switch.from_provider, switch.to_provider, switch.reason) == (
        "primary",
        "backup",
        "error",
    )
    assert switch.error is not None and switch.error.code is ErrorCode.NETWORK_ERROR
    assert switch.replayed_bytes == len(turn) * CHUNK
    assert backup.sessions[0].heard == turn and backup.turns == 1
    assert delivered(turn, primary, backup) == len(turn)
    assert fb.switches == 1 and fb.breakers[0].failures == 1


async def test_primary_down_at_open_starts_on_the_backup() -> None:
    primary = DeadProvider("primary", code=ErrorCode.MODEL_NOT_AVAILABLE)
    backup = AdvancedMockS2SProvider("backup")
    fb = FallbackProvider([primary, backup], CONFIG)
    async with await fb.start_streaming() as session:
        events = await converse(session, utterance(0))
    assert primary.attempts == 1 and backup.turns == 1
    [switch] = switches(events)  # the session says why it did not start on the primary
    assert (switch.from_provider, switch.to_provider, switch.reason) == (
        "primary",
        "backup",
        "error",
    )
    assert switch.error is not None and switch.error.code is ErrorCode.MODEL_NOT_AVAILABLE


async def test_slow_first_audio_switches_within_the_latency_budget() -> None:
    primary = AdvancedMockS2SProvider("primary", delay=0.6)
    backup = AdvancedMockS2SProvider("backup")
    turn = utterance(0)
    fb = FallbackProvider([primary, backup], CONFIG)  # latency "low": 0.2 s budget
    async with await fb.start_streaming() as session:
        events = await converse(session, turn)
    [switch] = switches(events)
    assert switch.reason == "latency" and switch.to_provider == "backup"
    first_audio = next(e for e in events if isinstance(e, AudioChunk) and e.audio)
    assert events.index(first_audio) > events.index(switch)  # the answer came from backup
    assert backup.turns == 1 and delivered(turn, backup) == len(turn)
    assert fb.breakers[0].failures == 1


async def test_slow_provider_is_kept_when_there_is_nothing_better() -> None:
    primary = AdvancedMockS2SProvider("primary", delay=0.4)
    backup = DeadProvider("backup")
    fb = FallbackProvider([primary, backup], CONFIG)
    async with await fb.start_streaming() as session:
        events = await converse(session, utterance(0))
    assert not switches(events) and primary.turns == 1
    assert any(isinstance(e, AudioChunk) and e.audio for e in events)


@pytest.mark.parametrize("replay_started", [False, True])
async def test_stall_mid_reply_switches(replay_started: bool) -> None:
    """40 ms of the reply played: under ``replay_cut_reply_under`` (here 10 ms when the
    turn must not be replayed) the turn is answered again, else the cut is reported."""
    primary = AdvancedMockS2SProvider("primary", stall_after_chunks=2)
    backup = AdvancedMockS2SProvider("backup")
    settings = FallbackSettings(stall_timeout=0.2)
    config = CONFIG.model_copy(update={"replay_cut_reply_under": 1.0 if replay_started else 0.01})
    fb = FallbackProvider([primary, backup], config, settings=settings)
    turn = utterance(0)
    async with await fb.start_streaming() as session:
        with anyio.fail_after(10):
            for chunk in turn:
                await session.send_audio(chunk)
            events: list[SessionEvent] = []
            async for event in session:
                events.append(event)
                if isinstance(event, ProviderSwitched):
                    break
            if replay_started:
                events += await converse(session, [])
    switch = events[events.index(switches(events)[0])]
    assert switch.reason == "stall" and switch.error is not None
    assert switch.error.code is ErrorCode.STREAM_TIMEOUT
    closing = events[events.index(switch) - 1]
    assert isinstance(closing, ResponseDone)
    if replay_started:  # the partial reply is flushed and the turn answered again
        assert isinstance(events[events.index(switch) - 2], Interrupted)
        assert closing.status == "cancelled" and backup.turns == 1
        assert delivered(turn, backup) == len(turn)
    else:  # the user heard enough of an answer: the cut is told, the turn not asked again
        assert closing.status == "incomplete" and backup.turns == 0
        told = events[events.index(switch) - 2]
        assert isinstance(told, SessionError) and not told.fatal
        assert told.error.code is ErrorCode.REPLY_CUT
        assert delivered(turn, primary) == len(turn)


async def test_circuit_breaker_stops_hammering_a_dead_provider() -> None:
    primary = DeadProvider("primary")
    backup = AdvancedMockS2SProvider("backup")
    settings = FallbackSettings(failure_threshold=2, breaker_cooldown=60)
    fb = FallbackProvider([primary, backup], CONFIG, settings=settings)
    reasons = []
    for _ in range(5):
        session = await fb.start_streaming()
        await session.close()
        reasons += [e.reason for e in [event async for event in session] if hasattr(e, "reason")]
    assert primary.attempts == 2  # then the circuit opened
    assert fb.breakers[0].state is BreakerState.OPEN
    assert len(backup.sessions) == 5
    assert reasons.count("circuit_open") == 3


async def test_recovery_probe_brings_the_primary_back() -> None:
    primary = DeadProvider("primary")
    backup = AdvancedMockS2SProvider("backup")
    settings = FallbackSettings(probe_cooldown=0.1, probe_timeout=1.0)
    fb = FallbackProvider([primary, backup], CONFIG, settings=settings)
    async with await fb.start_streaming() as session:
        events = await converse(session, utterance(0))
        assert backup.turns == 1
        primary.alive = True
        with anyio.fail_after(5):
            async for event in session:
                events.append(event)
                if isinstance(event, ProviderSwitched):
                    break
        events += await converse(session, utterance(100))
    [start, back] = switches(events)
    assert start.to_provider == "backup" and start.reason == "error"
    assert (back.from_provider, back.to_provider, back.reason) == ("backup", "primary", "recovered")
    assert primary.turns == 1 and backup.turns == 1
    assert fb.breakers[0].state is BreakerState.CLOSED


async def test_all_providers_failing_is_one_clear_error() -> None:
    primary = DroppingMock("primary", drop_after_audio=5)
    backup = DeadProvider("backup")
    fb = FallbackProvider([primary, backup], CONFIG)
    async with await fb.start_streaming() as session:
        events = await converse(session, utterance(0), until_done=99)
    errors = [e for e in events if isinstance(e, SessionError)]
    assert len(errors) == 1 and errors[0].fatal
    assert "all providers failed" in str(errors[0].error)
    assert "backup: refused" in str(errors[0].error)
    assert isinstance(events[-1], SessionClosed)


async def test_backup_with_another_input_rate_gets_resampled_audio() -> None:
    only16 = ProviderCapabilities(server_vad=True, input_sample_rates=(16000,))
    only24 = ProviderCapabilities(server_vad=True, input_sample_rates=(24000,))
    primary = DroppingMock("primary", drop_after_audio=0, capabilities=only16)
    backup = AdvancedMockS2SProvider("backup", capabilities=only24)
    fb = FallbackProvider([primary, backup], CONFIG)
    assert fb.capabilities.input_sample_rates == (16000,)
    turn = utterance(0)
    async with await fb.start_streaming() as session:
        with anyio.fail_after(5):
            for chunk in turn:
                await session.send_audio(chunk)
            async for event in session:
                if isinstance(event, ProviderSwitched):
                    break
    expected = len(turn) * CHUNK * 1.5
    held_back = 0.05 * 24000 * 2  # the streaming resampler's filter delay, at most 50 ms
    assert expected - held_back <= backup.received_bytes <= expected


async def test_process_falls_back() -> None:
    primary = DeadProvider("primary")
    backup = AdvancedMockS2SProvider("backup", turn_detection="client")
    fb = FallbackProvider([primary, backup], CONFIG)
    out = await fb.process(AudioInput(b"".join(utterance(0))))
    assert out.provider == "backup" and out.data


def test_breaker_half_open_allows_one_trial_and_backs_off() -> None:
    now = [0.0]
    b = CircuitBreaker(failure_threshold=1, cooldown=10, max_cooldown=25, clock=lambda: now[0])
    assert b.allow()
    b.record_failure()
    assert b.state is BreakerState.OPEN and not b.allow()
    now[0] = 10.0
    assert b.state is BreakerState.HALF_OPEN
    assert b.allow() and not b.allow()  # exactly one trial
    b.record_failure()  # the trial failed: open for twice as long
    assert b.cooldown == 20 and not b.allow()
    now[0] = 30.0
    assert b.allow()
    b.record_failure()
    assert b.cooldown == 25  # capped
    now[0] = 55.0
    assert b.allow()
    b.record_success()
    assert b.state is BreakerState.CLOSED and b.cooldown == 10 and b.allow()
