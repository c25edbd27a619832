"""External reasoning as a processor, on both sides of an S2S processor (issue 16.5).

A processor after ``S2SProcessor`` gets the final user transcriptions and what it pushes
upstream is voiced by the provider, sentence by sentence as it streams (the first one
while the rest is still being written); ``AgentProcessor`` answers user transcripts as
the bot wherever it stands, and its answer never reaches the provider as user text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from beluga_voice.conversation import ConversationContext
from beluga_voice.frames import (
    Direction,
    Frame,
    InputAudioFrame,
    OutputAudioFrame,
    ResponseEndFrame,
    SpeakFrame,
    StartFrame,
    TextFrame,
    TranscriptionFrame,
)
from beluga_voice.pipeline import FrameProcessor
from beluga_voice.processors import AgentProcessor
from beluga_voice.processors.s2s import S2SProcessor
from beluga_voice.processors.voicing import MAX_LINES, Voicing
from beluga_voice.providers import S2SConfig
from beluga_voice.providers.mock import AdvancedMockS2SProvider
from beluga_voice.testing import run_pipeline, tone

pytestmark = pytest.mark.anyio

UTTERANCE = tone(0.4, 16000, 300, 0.5) + bytes(16000)  # 0.4 s of speech, 0.5 s quiet
_UP = Direction.UPSTREAM
_DOWN = Direction.DOWNSTREAM


def frames_of(pcm: bytes, rate: int = 16000) -> list[Frame]:
    step = rate // 50 * 2
    return [InputAudioFrame(pcm[i : i + step], rate) for i in range(0, len(pcm), step)]


def external_mock(**kwargs: object) -> AdvancedMockS2SProvider:
    config = S2SConfig(provider="mock", reasoning_mode="external")
    return AdvancedMockS2SProvider(
        config=config, user_transcripts=["what is the plan"], audio_outputs=[tone(0.1)], **kwargs
    )


class Spoken:
    """Records the lines the S2S processor hands its provider, and says when."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.changed = anyio.Event()

    def watch(self, s2s: S2SProcessor) -> None:
        session = s2s.session
        assert session is not None
        speak = session.speak

        async def spy(text: str) -> None:
            self.lines.append(text)
            self.changed.set()
            self.changed = anyio.Event()
            await speak(text)

        session.speak = spy  # type: ignore[method-assign]

    async def until(self, count: int) -> None:
        with anyio.fail_after(5):
            while len(self.lines) < count:
                await self.changed.wait()


class Reasoner(FrameProcessor):
    """A user's reasoning processor after the S2S processor: it answers each final user
    transcription upstream, in pieces, and holds the rest of its answer until the first
    sentence has been handed to the provider."""

    def __init__(self, s2s: S2SProcessor, spoken: Spoken) -> None:
        super().__init__()
        self.s2s = s2s
        self.spoken = spoken
        self.heard: list[str] = []
        self.before_rest: list[str] = []

    async def on_start(self, frame: StartFrame) -> None:
        self.spoken.watch(self.s2s)  # the S2S processor opened its session before us

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        await self.push_frame(frame, direction)
        if isinstance(frame, TranscriptionFrame) and frame.role == "user" and frame.final:
            self.heard.append(frame.text)
            self.create_task(self._answer)

    async def _answer(self) -> None:
        await self.push_frame(TextFrame("Hello there. Let me"), _UP)
        await self.spoken.until(1)  # the first sentence is out; the rest is still to come
        self.before_rest = list(self.spoken.lines)
        await self.push_frame(TextFrame(" think. The plan"), _UP)
        await self.push_frame(TextFrame(" is simple"), _UP)
        await self.push_frame(ResponseEndFrame(), _UP)
        await self.push_frame(SpeakFrame("Anything else?"), _UP)


async def test_a_processor_after_s2s_is_voiced_sentence_by_sentence() -> None:
    mock = external_mock()
    s2s = S2SProcessor(mock)  # external reasoning without an agent: a processor answers
    spoken = Spoken()
    reasoner = Reasoner(s2s, spoken)
    await run_pipeline(
        [s2s, reasoner], frames_of(UTTERANCE), until=lambda out: len(spoken.lines) == 4
    )
    assert reasoner.heard == ["what is the plan"]
    assert reasoner.before_rest == ["Hello there."]  # spoken while the rest still streamed
    assert spoken.lines == ["Hello there.", "Let me think.", "The plan is simple", "Anything else?"]
    assert list(mock.received_text) == []  # the bot's words never went in as the user's


class TwoSentences:
    """An agent whose second sentence waits until the first was handed to the voice."""

    def __init__(self, spoken: Spoken) -> None:
        self.spoken = spoken
        self.heard: list[str] = []

    async def respond(self, text: str, ctx: ConversationContext) -> AsyncIterator[str]:
        self.heard.append(text)
        yield "Sure, "
        yield "one moment. "
        await self.spoken.until(1)
        yield "Here it is."


class Watcher(FrameProcessor):
    """Installs the spy once the S2S processor before it has its session."""

    def __init__(self, s2s: S2SProcessor, spoken: Spoken) -> None:
        super().__init__()
        self.s2s, self.spoken = s2s, spoken

    async def on_start(self, frame: StartFrame) -> None:
        self.spoken.watch(self.s2s)


async def test_an_agent_processor_after_s2s_answers_through_the_provider() -> None:
    mock = external_mock()
    s2s = S2SProcessor(mock)
    spoken = Spoken()
    agent = TwoSentences(spoken)
    out, _ = await run_pipeline(
        [s2s, Watcher(s2s, spoken), AgentProcessor(agent, voice="upstream")],
        frames_of(UTTERANCE),
        until=lambda out: len(spoken.lines) == 2,
    )
    assert agent.heard == ["what is the plan"]
    assert spoken.lines == ["Sure, one moment.", "Here it is."]
    assert list(mock.received_text) == []
    assert any(isinstance(f, OutputAudioFrame) for f in out)  # the provider voiced it


async def test_the_built_in_agent_is_voiced_as_it_streams() -> None:
    mock = external_mock()
    spoken = Spoken()
    agent = TwoSentences(spoken)
    s2s = S2SProcessor(mock, agent=agent)
    await run_pipeline(
        [s2s, Watcher(s2s, spoken)], frames_of(UTTERANCE), until=lambda out: len(spoken.lines) == 2
    )
    assert spoken.lines == ["Sure, one moment.", "Here it is."]


async def test_an_agent_processor_in_front_of_s2s_is_voiced_not_sent_as_user_text() -> None:
    """STT -> agent -> S2S as the voice: the reply's text is spoken; a TextFrame outside a
    reply is still the user's typed message."""
    mock = external_mock()
    s2s = S2SProcessor(mock)
    spoken = Spoken()

    class Answer:
        async def respond(self, text: str, ctx: ConversationContext) -> AsyncIterator[str]:
            yield "It is "
            yield "ten o'clock. "
            yield "Anything else"

    agent = AgentProcessor(Answer())
    heard = TranscriptionFrame("what time is it", role="user")
    typed = TextFrame("typed by the user")
    await run_pipeline(
        [agent, s2s, Watcher(s2s, spoken)],
        [heard, typed],
        until=lambda out: len(spoken.lines) == 2 and bool(mock.received_text),
    )
    assert spoken.lines == ["It is ten o'clock.", "Anything else"]
    assert list(mock.received_text) == ["typed by the user"]
    assert [t.text for t in agent.context.history] == [
        "what time is it",
        "It is ten o'clock. Anything else",
    ]


async def test_voicing_sends_one_line_at_a_time_and_a_barge_in_drops_the_rest() -> None:
    said: list[str] = []

    async def speak(text: str) -> None:
        said.append(text)

    voice = Voicing(speak)
    await voice.text("One. Two. Thr")
    assert said == ["One."]  # the provider has not finished "One." yet
    await voice.reply_done()
    assert said == ["One.", "Two."]
    await voice.end_of_reply()
    assert list(voice.lines) == ["Thr"] and not voice.idle
    voice.clear()  # a barge-in
    await voice.reply_done()
    assert said == ["One.", "Two."] and voice.idle


async def test_voicing_is_bounded_without_dropping_text() -> None:
    said: list[str] = []

    async def speak(text: str) -> None:
        said.append(text)

    voice = Voicing(speak)
    for i in range(MAX_LINES + 10):
        await voice.line(f"Line {i}.")
    assert len(voice.lines) == MAX_LINES
    assert voice.lines[-1].endswith("Line 73.") and "Line 64." in voice.lines[-1]
