"""Basic speech-to-speech conversation, entirely offline.

The README's first example as a script: make a provider, answer one
utterance in one call, then hold a streaming conversation, both with the default
``local`` provider (pocketsphinx, a rule agent and espeak-ng: no API key, no network).
Swap ``"local"`` for ``"openai_realtime"``, ``"gemini"``, ``"grok"`` or ``"amazon_nova"``
and nothing else changes.

    python examples/basic_conversation.py
"""

from __future__ import annotations

import anyio

from beluga_voice.conversation import new_conversation_context
from beluga_voice.frames import TranscriptionFrame
from beluga_voice.providers import events
from beluga_voice.providers.registry import new_provider
from beluga_voice.providers.types import AudioInput
from beluga_voice.session import VoiceSession
from beluga_voice.tts import EspeakTTS

# Stand-in for a microphone: the user's voice, synthesised (16 kHz mono PCM16).
USER_VOICE = EspeakTTS("en-us+f2", rate=150, sample_rate=16000)
SILENCE = b"\0\0" * 16000  # one second


def utterance(text: str) -> bytes:
    return SILENCE[:8000] + USER_VOICE.synthesize(text) + SILENCE


async def one_shot() -> None:
    """A whole utterance in, the whole spoken answer out."""
    provider = new_provider("local")
    answer = await provider.process(AudioInput(utterance("what is twelve times three")))
    seconds = answer.format.duration(len(answer.data))
    print(
        f"one-shot: {answer.transcript!r} ({seconds:.1f} s of audio, {answer.latency * 1000:.0f} ms)"
    )


async def streaming() -> None:
    """A live session: send audio as it comes, react to events as they arrive."""
    provider = new_provider("local")
    ctx = new_conversation_context(user_id="example-user")
    async with provider.stream(ctx) as session:
        for text in ("hello", "what time is it"):
            audio = utterance(text)
            for i in range(0, len(audio), 640):  # 20 ms chunks, as a microphone delivers
                await session.send_audio(audio[i : i + 640])
            with anyio.fail_after(10):
                async for event in session:
                    if isinstance(event, events.Transcript) and event.final:
                        print(f"streaming: {event.role:>9}: {event.text}")
                    elif isinstance(event, events.ResponseDone):
                        break


async def voice_session() -> None:
    """The facade: a pipeline with the S2S processor, fed through ``process_audio``."""
    replied = anyio.Event()

    async def on_transcript(frame: TranscriptionFrame) -> None:
        if frame.final:
            print(f"session:   {frame.role:>9}: {frame.text}")
            if frame.role == "assistant":
                replied.set()

    async with VoiceSession(s2s_provider=new_provider("local"), on_transcript=on_transcript) as s:
        audio = utterance("what is the date today")
        for i in range(0, len(audio), 640):
            await s.process_audio(audio[i : i + 640])
        with anyio.fail_after(10):
            await replied.wait()


async def main() -> None:
    await one_shot()
    await streaming()
    await voice_session()


if __name__ == "__main__":
    anyio.run(main)
