"""Gemini resumption under repeated goAway: how much audio does the server take in twice?

Streams live-paced microphone audio (utterances of speech between quiet noise, every
20 ms chunk different) to the fake Gemini server, which sends goAway every ``--every``
seconds of audio and a resumption handle every fifth message.  Prints what the server
received in total (every byte, rolled back or not), what the model heard after the
rollbacks, the repeat at each seam, and how many replies the utterances produced.

    python -m benchmarks.gemini_resumption --seconds 16 --every 4
"""

from __future__ import annotations

import argparse
import itertools

import anyio
import numpy as np

from beluga_voice.providers.config import S2SConfig
from beluga_voice.providers.events import ResponseDone, SessionReconnected
from beluga_voice.providers.gemini_live import GeminiLiveProvider, GeminiSettings
from beluga_voice.testing.fake_gemini import FakeGeminiServer, ScriptedTurn
from beluga_voice.testing.speech import tone

CHUNK = 640  # 20 ms at 16 kHz
BYTES_PER_S = 32000


def microphone(seconds: float, utterances: int) -> list[bytes]:
    rng = np.random.default_rng(1)
    audio = rng.integers(-60, 60, int(16000 * seconds), dtype="<i2")
    gap = len(audio) // utterances
    for n in range(utterances):
        speech = np.frombuffer(tone(0.8, 16000, level=0.3), dtype="<i2")
        start = n * gap + gap // 4
        audio[start : start + len(speech)] += speech
    data = audio.astype("<i2").tobytes()
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


async def run(seconds: float, every: float, margin: float, utterances: int) -> None:
    chunks = microphone(seconds, utterances)
    per_connection = int(every * BYTES_PER_S / CHUNK)
    plan = [per_connection] * int(seconds / every)
    replies = moves = 0
    async with FakeGeminiServer(
        [ScriptedTurn(audio=tone(0.2, 24000))],
        api_key="bench-key-0000",
        go_away_after_audio=plan,
        go_away_grace_s=2.0,
    ) as server:
        settings = GeminiSettings(base_url=server.url, replay_margin_s=margin)
        provider = GeminiLiveProvider(S2SConfig(api_key="bench-key-0000", timeout=5), settings)
        async with provider.stream() as session:

            async def read() -> None:
                nonlocal replies, moves
                async for event in session:
                    if isinstance(event, ResponseDone) and event.status == "completed":
                        replies += 1
                    elif isinstance(event, SessionReconnected):
                        moves += 1

            async with anyio.create_task_group() as tg:
                tg.start_soon(read)
                for chunk in chunks:
                    await session.send_audio(chunk)
                    await anyio.sleep(0.02)  # a microphone's pace
                await anyio.sleep(2.0)  # let the last replies come back
                tg.cancel_scope.cancel()
    where = {c: i for i, c in enumerate(chunks)}
    heard = bytes(server.states[0].audio)
    order = [where.get(heard[i : i + CHUNK], -1) for i in range(0, len(heard), CHUNK)]
    seams = [b - a + 1 for b, a in itertools.pairwise(order) if a != b + 1 and a <= b]
    lost = len(chunks) - len(set(order) - {-1})
    received = sum(len(pcm) for _, pcm in server.audio_in)
    print(f"live audio sent        {len(chunks) * CHUNK / BYTES_PER_S:6.1f} s")
    print(
        f"received by the server {received / BYTES_PER_S:6.1f} s (every byte, {moves} resumptions)"
    )
    print(f"heard by the model     {len(heard) / BYTES_PER_S:6.1f} s (after rollbacks)")
    print(f"repeat at each seam    {[round(r * CHUNK / BYTES_PER_S, 2) for r in seams]} s")
    print(f"lost                   {lost * CHUNK / BYTES_PER_S:6.1f} s")
    print(f"replies                {replies} for {utterances} utterances")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=16.0)
    parser.add_argument("--every", type=float, default=4.0, help="goAway every N s of audio")
    parser.add_argument("--margin", type=float, default=1.0, help="replay_margin_s")
    parser.add_argument("--utterances", type=int, default=6)
    args = parser.parse_args()
    anyio.run(run, args.seconds, args.every, args.margin, args.utterances)


if __name__ == "__main__":
    main()
