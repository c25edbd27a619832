"""External reasoning: your own agent decides what the bot says.

A user-written agent (a shopping list keeper, below) plugs into a voice conversation in
two ways, both offline:

1. the cascade branch: speech recognition -> your agent -> speech synthesis
   (``VoiceSession(stt=..., agent=..., tts=...)``, built from ``STTProcessor``,
   ``AgentProcessor`` and ``TTSProcessor``);
2. next to a speech-to-speech provider with ``reasoning_mode="external"``: the provider
   transcribes and speaks, your agent answers.

An agent is any object with an async generator ``respond(text, ctx)``; it streams its
reply, reads the conversation history from ``ctx.history`` and may keep state in
``ctx.agent_state``.  Its optional ``phrases()`` lets the embedded recogniser build a
small domain model of what users will say, which makes recognition far more accurate.

    python examples/agent_integration.py
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio

from beluga_voice.conversation import ConversationContext
from beluga_voice.frames import TranscriptionFrame
from beluga_voice.providers.config import S2SConfig
from beluga_voice.providers.local import LocalS2SProvider
from beluga_voice.session import VoiceSession
from beluga_voice.stt import PocketSphinxSTT
from beluga_voice.tts import EspeakTTS

ITEMS = ("milk", "bread", "apples", "eggs", "coffee")
USER_VOICE = EspeakTTS("en-us+f2", rate=150, sample_rate=16000)


class ShoppingListAgent:
    """Adds items, reads the list back, clears it."""

    def phrases(self) -> list[str]:
        return [f"add {item}" for item in ITEMS] * 3 + [
            "what is on my list",
            "read my list",
            "clear my list",
        ]

    async def respond(self, text: str, ctx: ConversationContext) -> AsyncIterator[str]:
        items: list[str] = ctx.agent_state.setdefault("shopping", [])
        words = text.lower().split()
        if "add" in words:
            added = [w for w in words if w in ITEMS]
            items.extend(added)
            yield f"Added {' and '.join(added)}. " if added else "Add what? "
            yield f"Your list has {len(items)} item{'' if len(items) == 1 else 's'}."
        elif "clear" in words:
            items.clear()
            yield "Your list is empty now."
        elif "list" in words:
            yield "You need " + ", ".join(items) + "." if items else "Your list is empty."
        else:
            yield "Say add, then an item."


class Conversation:
    """Speaks lines into a session and waits for each answer (printed as it comes)."""

    def __init__(self) -> None:
        self.replied = anyio.Event()

    async def on_transcript(self, frame: TranscriptionFrame) -> None:
        if frame.final:
            print(f"{frame.role:>9}: {frame.text}")
            if frame.role == "assistant":
                self.replied.set()

    async def talk(self, session: VoiceSession, lines: list[str]) -> None:
        for line in lines:
            self.replied = anyio.Event()
            audio = b"\0\0" * 8000 + USER_VOICE.synthesize(line) + b"\0\0" * 16000
            for i in range(0, len(audio), 640):
                await session.process_audio(audio[i : i + 640])
            with anyio.fail_after(10):
                await self.replied.wait()


async def main() -> None:
    agent = ShoppingListAgent()
    stt = PocketSphinxSTT(phrases=agent.phrases())

    print("-- cascade: STT -> ShoppingListAgent -> TTS")
    chat = Conversation()
    async with VoiceSession(
        stt=stt, agent=agent, tts=EspeakTTS(), on_transcript=chat.on_transcript
    ) as cascade:
        await chat.talk(cascade, ["add coffee", "add milk", "what is on my list"])

    print("-- S2S provider with external reasoning")
    provider = LocalS2SProvider(S2SConfig(reasoning_mode="external"), stt=stt)
    chat = Conversation()
    async with VoiceSession(
        s2s_provider=provider, agent=agent, on_transcript=chat.on_transcript
    ) as s2s:
        await chat.talk(s2s, ["add eggs", "clear my list"])


if __name__ == "__main__":
    anyio.run(main)
