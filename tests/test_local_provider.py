"""The local provider: real embedded engines behind the streaming session API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import anyio
import pytest

from beluga_voice.agents import EchoAgent, RuleAgent
from beluga_voice.conversation import ConversationContext, new_conversation_context
from beluga_voice.providers.config import S2SConfig
from beluga_voice.providers.errors import ErrorCode, S2SError
from beluga_voice.providers.events import (
    AudioChunk,
    Interrupted,
    ResponseDone,
    ResponseStarted,
    SessionError,
    SessionEvent,
    SpeechStarted,
    SpeechStopped,
    Transcript,
)
from beluga_voice.providers.local import LocalS2SProvider, LocalSettings
from beluga_voice.providers.registry import bare_provider
from beluga_voice.providers.types import AudioInput
from beluga_voice.stt import PocketSphinxSTT
from beluga_voice.tts import EspeakTTS

pytestmark = pytest.mark.anyio

_VOICE = EspeakTTS("en-us+f2", sample_rate=16000, rate=150)
_SILENCE = b"\0\0" * 16000  # 1 s at 16 kHz
_STT = PocketSphinxSTT(phrases=RuleAgent().phrases())  # loads and decodes fast


def _utterance(text: str) -> bytes:
    return _SILENCE[:9600] + _VOICE.synthesize(text) + _SILENCE


async def _send(session: object, audio: bytes) -> None:
    for i in range(0, len(audio), 640):
        await session.send_audio(audio[i : i + 640])  # type: ignore[attr-defined]


async def _until(
    session: AsyncIterator[SessionEvent], done: Callable[[SessionEvent], bool], timeout: float = 10
) -> list[SessionEvent]:
    events: list[SessionEvent] = []
    with anyio.fail_after(timeout):
        async for event in session:
            events.append(event)
            if done(event):
                break
    return events


def _done(event: SessionEvent) -> bool:
    return isinstance(event, ResponseDone)


class GatedAgent:
    """Streams one sentence, then waits for ``gate`` before the rest: a reply in flight."""

    def __init__(self) -> None:
        self.gate = anyio.Event()
        self.closed = False
        self.seen: list[tuple[str, list[str]]] = []

    async def respond(self, text: str, ctx: ConversationContext) -> AsyncIterator[str]:
        self.seen.append((text, [t.text for t in ctx.history]))
        try:
            yield "First sentence here. "
            await self.gate.wait()
            yield "Second sentence."
        finally:
            self.closed = True


class FailingAgent:
    async def respond(self, text: str, ctx: ConversationContext) -> AsyncIterator[str]:
        yield "Partial. "
        raise RuntimeError("agent exploded")


async def test_local_is_the_default_provider_and_needs_no_key() -> None:
    provider = bare_provider()
    assert isinstance(provider, LocalS2SProvider)
    assert provider.capabilities.server_vad and provider.capabilities.speak_text
    assert provider.capabilities.output_sample_rate == 24000


async def test_unknown_setting_is_rejected_with_the_allowed_keys() -> None:
    with pytest.raises(S2SError) as info:
        bare_provider("local", S2SConfig(provider_specific={"voise": "x"}))
    assert info.value.code == ErrorCode.INVALID_CONFIG
    assert "voice" in str(info.value)


async def test_one_shot_process_answers_the_question() -> None:
    out = await LocalS2SProvider().process(AudioInput(_utterance("what is two plus two")))
    assert out.transcript == "That is 4."
    assert out.format.sample_rate == 24000
    assert 0.3 < out.format.duration(len(out.data)) < 3.0
    assert out.latency < 1.0


async def test_streaming_turn_yields_events_in_order() -> None:
    provider = LocalS2SProvider()
    async with provider.stream() as session:
        await _send(session, _utterance("hello"))
        events = await _until(session, _done)
    kinds = [type(e) for e in events]
    for earlier, later in [
        (SpeechStarted, SpeechStopped),
        (SpeechStopped, ResponseStarted),
        (ResponseStarted, AudioChunk),
        (AudioChunk, ResponseDone),
    ]:
        assert kinds.index(earlier) < kinds.index(later)
    user = [e for e in events if isinstance(e, Transcript) and e.role == "user" and e.final]
    assert [u.text for u in user] == ["hello"]
    said = [e for e in events if isinstance(e, Transcript) and e.role == "assistant" and e.final]
    assert said[-1].text == "Hello! I am Beluga. How can I help you?"
    chunks = [e for e in events if isinstance(e, AudioChunk)]
    assert chunks[-1].is_final and all(len(c.audio) <= 960 for c in chunks)
    assert events[-1] == ResponseDone(events[-1].response_id, "completed")


async def test_speech_over_a_reply_cancels_it_and_closes_the_agent() -> None:
    agent = GatedAgent()
    provider = LocalS2SProvider(agent=agent, stt=_STT)
    async with provider.stream() as session:
        await _send(session, _utterance("hello"))
        events = await _until(session, lambda e: isinstance(e, AudioChunk))
        assert any(isinstance(e, ResponseStarted) for e in events)
        await _send(session, _utterance("stop"))  # the reply is still waiting on the agent
        events = await _until(session, _done)
    started = next(i for i, e in enumerate(events) if isinstance(e, SpeechStarted))
    assert isinstance(events[started + 1], Interrupted)
    done = [e for e in events if isinstance(e, ResponseDone)]
    assert done[0].status == "cancelled" and done[0].reason == "turn_detected"
    assert agent.closed


async def test_client_interrupt_cancels_and_truncates_history() -> None:
    agent = GatedAgent()
    ctx = new_conversation_context()
    provider = LocalS2SProvider(agent=agent, stt=_STT)
    async with provider.stream(ctx) as session:
        await session.send_text("tell me something")
        await _until(session, lambda e: isinstance(e, AudioChunk))
        await session.interrupt(None)
        events = await _until(session, _done)
        assert isinstance(events[0], Interrupted) or any(isinstance(e, Interrupted) for e in events)
        said = [e.text for e in events if isinstance(e, Transcript) and e.final]
        assert said == ["First sentence here."]
        ctx.add_turn("assistant", said[0])  # what the session's owner records
        await session.interrupt(played_ms=1.0)
    assert ctx.history[-1].text == ""
    assert ctx.history[-1].metadata["truncated_at_ms"] == 1.0


async def test_truncation_keeps_the_heard_words() -> None:
    ctx = new_conversation_context()
    provider = LocalS2SProvider(agent=EchoAgent(prefix=""), stt=_STT)
    async with provider.stream(ctx) as session:
        await session.send_text("One two three four. Five six seven eight.")
        events = await _until(session, _done)
        full = next(e.text for e in events if isinstance(e, Transcript) and e.final)
        ctx.add_turn("assistant", full)
        first = session._last_spoken[0][1]  # ms of the first sentence
        await session.interrupt(played_ms=first + session._last_spoken[1][1] / 2)
    assert ctx.history[-1].text == "One two three four. Five six..."


async def test_speak_voices_text_verbatim_without_the_agent() -> None:
    agent = GatedAgent()
    async with LocalS2SProvider(agent=agent, stt=_STT).stream() as s:
        await s.speak("Exactly these words.")
        events = await _until(s, _done)
    assert [e.text for e in events if isinstance(e, Transcript) and e.final] == [
        "Exactly these words."
    ]
    assert agent.seen == []
    assert sum(len(e.audio) for e in events if isinstance(e, AudioChunk)) > 0


async def test_external_reasoning_reports_the_user_but_does_not_answer() -> None:
    config = S2SConfig(reasoning_mode="external")
    async with LocalS2SProvider(config).stream() as session:
        await _send(session, _utterance("hello"))
        events = await _until(
            session, lambda e: isinstance(e, Transcript) and e.role == "user" and e.final
        )
        assert not any(isinstance(e, ResponseStarted) for e in events)
        await session.speak("I was told to say this.")
        events = await _until(session, _done)
    assert any(isinstance(e, AudioChunk) and e.audio for e in events)


async def test_agent_failure_is_reported_and_the_session_goes_on() -> None:
    provider = LocalS2SProvider(agent=FailingAgent(), stt=_STT)
    async with provider.stream() as session:
        await session.send_text("hi")
        events = await _until(session, _done)
        errors = [e for e in events if isinstance(e, SessionError)]
        assert errors and not errors[0].fatal and "agent exploded" in str(errors[0].error)
        assert events[-1].status == "failed"  # type: ignore[union-attr]
        await session.speak("Still here.")
        events = await _until(session, _done)
        assert events[-1].status == "completed"  # type: ignore[union-attr]


async def test_agent_sees_history_without_the_current_utterance() -> None:
    agent = GatedAgent()
    agent.gate.set()
    ctx = new_conversation_context()
    ctx.add_turn("user", "earlier question")
    provider = LocalS2SProvider(agent=agent, stt=_STT)
    async with provider.stream(ctx) as session:
        await _send(session, _utterance("hello"))
        await _until(session, _done)
    ((text, history),) = agent.seen
    assert history == ["earlier question"]
    assert text


async def test_client_turn_detection_waits_for_end_turn() -> None:
    settings = LocalSettings(turn_detection="client", silence_ms=3000)
    provider = LocalS2SProvider(settings=settings)
    assert not provider.capabilities.server_vad
    speech = _SILENCE[:9600] + _VOICE.synthesize("what is two plus two")
    async with provider.stream() as session:
        await _send(session, speech)
        await session.end_turn()
        events = await _until(session, _done)
    said = [e.text for e in events if isinstance(e, Transcript) and e.final]
    assert said == ["what is two plus two", "That is 4."]


async def test_bad_audio_and_closed_session_are_clear_errors() -> None:
    provider = LocalS2SProvider(agent=RuleAgent())
    session = await provider.start_streaming()
    with pytest.raises(S2SError) as info:
        await session.send_audio(b"\0\0\0")
    assert info.value.code == ErrorCode.INVALID_AUDIO_FORMAT
    await session.close()
    with pytest.raises(S2SError) as info:
        await session.send_audio(b"\0\0")
    assert info.value.code == ErrorCode.STREAM_CLOSED
    assert provider.limiter.in_use == 0


async def test_domain_model_needs_an_agent_with_phrases() -> None:
    with pytest.raises(S2SError, match="phrases"):
        LocalS2SProvider(agent=EchoAgent(), settings=LocalSettings(stt_model="domain"))


async def test_bad_engine_settings_are_config_errors_at_creation() -> None:
    config = S2SConfig(provider_specific={"agent": "openai", "openai_base_url": "ftp://nowhere"})
    with pytest.raises(S2SError) as info:
        bare_provider("local", config)
    assert info.value.code == ErrorCode.INVALID_CONFIG
    assert "http(s) URL" in str(info.value)
