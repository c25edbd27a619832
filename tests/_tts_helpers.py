"""Drive a streaming TTS reply the way the processor does: text in pieces, audio read
concurrently."""

from __future__ import annotations

from collections.abc import Sequence

import anyio

from beluga_voice.processors.tts_stream import first_error
from beluga_voice.tts.streaming import StreamingTTS, TTSReply

PIECES = ["Hello ", "there", ", friend. ", "How are ", "you today?"]


async def speak(engine: StreamingTTS, pieces: Sequence[str] = PIECES) -> tuple[bytes, TTSReply]:
    try:
        return await _speak(engine, pieces)
    except BaseExceptionGroup as group:
        raise first_error(group) from None


async def _speak(engine: StreamingTTS, pieces: Sequence[str]) -> tuple[bytes, TTSReply]:
    out = bytearray()
    with anyio.fail_after(10):
        async with engine.open_reply() as reply, anyio.create_task_group() as tg:

            async def pump() -> None:
                async for pcm in reply.audio():
                    out.extend(pcm)

            tg.start_soon(pump)
            for piece in pieces:
                await reply.send(piece)
                if piece.rstrip().endswith((".", "?", "!")):
                    await reply.flush()
            await reply.end()
    return bytes(out), reply
