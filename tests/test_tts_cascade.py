"""The cascade end to end against fakes: Deepgram (built from the STT catalogue, fake
server), an OpenAI-compatible agent (fake chat server) and ElevenLabs (fake) streaming the
reply, with a caller who barges in: the reply stops, the service is told, and the agent's
history keeps only the words that were heard.  Plus VoiceSession's selection of engines
by name."""

from __future__ import annotations

import anyio
import pytest

from beluga_voice.agents.openai_compat import OpenAICompatAgent
from beluga_voice.agents.rules import RuleAgent
from beluga_voice.errors import ErrorCode, S2SError
from beluga_voice.session import VoiceSession
from beluga_voice.stt.pocketsphinx import PocketSphinxSTT
from beluga_voice.stt.registry import STT_SERVICES
from beluga_voice.testing import Caller
from beluga_voice.testing.fake_chat import FakeChatServer
from beluga_voice.testing.fake_deepgram import FakeDeepgramServer
from beluga_voice.testing.fake_elevenlabs import FakeElevenLabs
from beluga_voice.tts.elevenlabs import ElevenLabsTTS
from beluga_voice.tts.espeak import EspeakTTS

pytestmark = pytest.mark.anyio

DG_KEY = "dg-test-key-0123456789"
LONG = (
    "Let me tell you a long story about the sea. It begins on a grey morning. "
    "The boats went out early. Nobody came back before night."
)


async def test_deepgram_agent_and_elevenlabs_end_to_end_with_barge_in() -> None:
    async with (
        FakeDeepgramServer(["tell me a story", "stop please"], api_key=DG_KEY) as deepgram,
        FakeElevenLabs(ms_per_char=30.0, speed=1.5) as voice,
        FakeChatServer(replies=[LONG, "Fine, I stop."], api_key="chat-key-0123456789") as chat,
    ):
        session = VoiceSession(
            stt=STT_SERVICES["deepgram"].make(api_key=DG_KEY, base_url=deepgram.url),
            tts=ElevenLabsTTS(api_key=voice.api_key, base_url=voice.base_url, sample_rate=16000),
            agent=OpenAICompatAgent(chat.base_url, "fake-model", "chat-key-0123456789"),
            output_sample_rate=16000,
        )
        with anyio.fail_after(60):
            async with Caller(session, clock="real") as call:
                story = await call.say("tell me a story", barge_in_after_ms=1200)
                stop = await call.say("stop please")
    assert story.interrupted and story.reply is not None and story.reply.interrupted
    assert stop.reply is not None and stop.reply.mentions("stop")
    assert voice.closed_early >= 1  # the story's connection was closed on the barge-in
    assert len(chat.requests) == 2
    assert [t.transcript for t in (story, stop)] == ["tell me a story", "stop please"]
    assert chat.requests[0]["messages"][-1]["content"] == "tell me a story"
    told = [m for m in session.context.history if m.role == "assistant"]
    assert told[0].metadata.get("interrupted")
    heard = told[0].text
    assert heard.endswith("...") and LONG.startswith(heard[:-3].rstrip(".").strip())
    assert 10 < len(heard) < len(LONG) / 2  # about 1.2 s of 30 ms characters
    assert session.errors == []
    assert deepgram.records.violations == [] and deepgram.records.server_violations == []


def test_voice_session_takes_engines_by_name() -> None:
    session = VoiceSession(stt="pocketsphinx", tts="espeak", agent=RuleAgent())
    assert isinstance(session.stt, PocketSphinxSTT) and isinstance(session.tts, EspeakTTS)


@pytest.mark.parametrize(
    ("stt", "tts", "code"),
    [
        ("nope", "espeak", ErrorCode.INVALID_CONFIG),
        ("pocketsphinx", "nope", ErrorCode.INVALID_CONFIG),
        ("pocketsphinx", "cartesia", ErrorCode.AUTHENTICATION_ERROR),
    ],
)
def test_a_bad_name_or_a_missing_key_fails_at_construction(
    stt: str, tts: str, code: ErrorCode, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CARTESIA_API_KEY", raising=False)
    with pytest.raises(S2SError) as info:
        VoiceSession(stt=stt, tts=tts, agent=RuleAgent())
    assert info.value.code is code
