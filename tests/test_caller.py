"""Scripted callers against each kind of target, on both clocks."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from beluga_voice.frames import Direction, Frame
from beluga_voice.pipeline import FrameProcessor, PipelineTask
from beluga_voice.processors.s2s import S2SProcessor
from beluga_voice.providers.mock import AdvancedMockS2SProvider
from beluga_voice.session import VoiceSession
from beluga_voice.testing.caller import Caller, CallerError, Reply, Turn
from beluga_voice.testing.caller.turns import spell_number
from beluga_voice.testing.speech import tone
from beluga_voice.transports.websocket import ServerConfig, WebSocketServer

pytestmark = pytest.mark.anyio


def mock(reply_s: float = 0.5, **kw: Any) -> AdvancedMockS2SProvider:
    return AdvancedMockS2SProvider(
        audio_outputs=[tone(reply_s)],
        transcripts=["That is 5."],
        user_transcripts=["what is two plus three"],
        **kw,
    )


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_voice_session_turn_is_deterministic_on_the_virtual_clock() -> None:
    """Two runs of the same script see the same conversation, to the millisecond."""
    seen = []
    for _ in range(2):
        session = VoiceSession(s2s_provider=mock(), resilient=False)
        async with Caller(session) as call:
            turn = await call.say("what is two plus three")
        assert session.task is not None and session.task.finished  # started and stopped
        assert turn.transcript == "what is two plus three"
        assert turn.reply.mentions("5") and turn.reply.mentions("five")
        assert turn.reply.duration_ms == pytest.approx(500.0)
        assert turn.reply.played_ms == pytest.approx(500.0) and not turn.interrupted
        seen.append((turn.reply.first_audio_ms, call.clock.now(), turn.speech_ms))
    assert seen[0] == seen[1]
    first_audio = seen[0][0]
    assert first_audio is not None and 200 <= first_audio <= 400  # the mock's 300 ms endpoint


async def test_barge_in_cuts_the_reply_and_truncates_the_provider() -> None:
    provider = mock(reply_s=3.0)
    task = PipelineTask([S2SProcessor(provider)])
    async with Caller(task) as call:
        long = await call.say("tell me everything", barge_in_after_ms=200)
        assert not long.interrupted  # not yet: nobody has talked over it
        await call.say("stop")
    assert long.interrupted
    assert 200 <= long.reply.played_ms < 600 < long.reply.duration_ms
    # the caller, as the loudspeaker, told the provider what was heard
    assert provider.interrupts and provider.interrupts[-1] == pytest.approx(long.reply.played_ms)


async def test_silence_and_hang_up() -> None:
    async with Caller(mock()) as call:
        await call.silence(2000)
        assert call.turns == [] and call.clock.now() == pytest.approx(2000)
        await call.hang_up()
        with pytest.raises(CallerError, match="hung up"):
            await call.say("hello?")


class _Deaf(FrameProcessor):
    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        await self.push_frame(frame, direction)


async def test_no_reply_times_out_on_the_callers_clock() -> None:
    async with Caller(PipelineTask([_Deaf()]), reply_timeout_ms=5000) as call:
        turn = await call.say("anyone there")
    assert turn.timed_out and turn.replies == []
    assert turn.reply.text == "" and not turn.reply.mentions("anyone")
    assert call.clock.now() - turn.end_of_speech_ms == pytest.approx(5000, abs=40)


async def test_agent_failure_raises_at_once() -> None:
    from beluga_voice.providers.errors import ErrorCode, S2SError

    broken = mock(
        fail_after_chunks=2, error=S2SError("receive", ErrorCode.STREAM_ERROR, "went away")
    )
    with pytest.raises(CallerError, match="went away"):
        async with Caller(broken) as call:
            await call.say("what is two plus three")


async def test_over_websocket_on_the_real_clock() -> None:
    provider = mock(reply_s=0.3, silence_ms=200)

    def build(transport: Any) -> list[Any]:
        return [transport.input(), S2SProcessor(provider), transport.output()]

    config = ServerConfig(port=0, token="caller-test-token-123")
    async with WebSocketServer(build, config) as server:
        with pytest.raises(CallerError, match="clock='real'"):
            Caller(server.url)
        with anyio.fail_after(20):
            async with Caller(
                server.url, clock="real", token="caller-test-token-123", pause_ms=300
            ) as call:
                turn = await call.say("hi")
    assert turn.transcript == "what is two plus three"  # the mock's scripted recognition
    assert turn.reply.mentions("5") and turn.reply.duration_ms == pytest.approx(300, abs=25)
    first = turn.reply.first_audio_ms
    assert first is not None and 0 < first < 2000  # the 200 ms endpoint, then the reply


async def test_speaks_a_wav_file(tmp_path: Any) -> None:
    from beluga_voice.audio.wav import write_wav_pcm16

    wav = tmp_path / "line.wav"
    write_wav_pcm16(wav, tone(0.4, 8000, 300.0, 0.5), 8000)
    provider = mock()
    async with Caller(provider) as call:
        turn = await call.say("(a tone)", audio=wav)
    assert turn.speech_ms == pytest.approx(400, abs=5)  # resampled to the target's rate
    assert turn.reply.mentions("5")


def test_refuses_what_it_cannot_call() -> None:
    with pytest.raises(CallerError, match="cannot call"):
        Caller(object())


def test_reply_mentions_reads_like_the_domain() -> None:
    reply = Reply(finals=["That is 36."])
    assert reply.mentions("36") and reply.mentions("thirty six") and reply.mentions("That")
    assert not reply.mentions("3") and not reply.mentions("6")
    assert Reply(interims=["It is ", "five."]).mentions("5")
    assert [spell_number(n) for n in (0, 15, 40, 99, 105, 1000)] == [
        "zero",
        "fifteen",
        "forty",
        "ninety nine",
        "one hundred five",
        None,
    ]
    turn = Turn(text="hi", replies=[reply], transcripts=["hi"])
    assert "'hi' (heard 'hi') -> 'That is 36.'" in str(turn)


async def test_a_greeting_before_the_first_line() -> None:
    session = VoiceSession(s2s_provider=mock(reply_s=0.4), resilient=False)
    async with Caller(session) as call:
        await session.say("Welcome to the test line.")
        greeting = await call.wait_for_reply()
        turn = await call.say("what is two plus three")
    assert call.greeting is not None and call.greeting.replies == [greeting]
    assert greeting.duration_ms == pytest.approx(400) and greeting.played_ms == pytest.approx(400)
    assert turn.reply is not greeting and turn.reply.mentions("5")
