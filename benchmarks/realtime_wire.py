"""Cost of the OpenAI Realtime / Grok protocol core and a turn against the local fake.

Run: ``.venv/bin/python benchmarks/realtime_wire.py [--seconds 60] [--turns 20]``.

Prints:

- how many seconds of 24 kHz reply audio the core parses per CPU second (base64 JSON
  ``response.output_audio.delta`` events, 40 ms each), and the same for Grok's binary
  transport;
- how many seconds of user audio per CPU second it turns into ``input_audio_buffer.append``
  events (encode + JSON);
- the latency of a turn against the fake server on loopback: from the last user audio
  chunk (end of the trailing silence) to the first reply audio chunk, median and p95.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _turn_latency import first_audio_latencies

from beluga_voice.providers.config import S2SConfig, with_provider_specific
from beluga_voice.providers.openai_realtime import (
    GROK,
    OPENAI,
    GrokVoiceSettings,
    OpenAIRealtimeSettings,
    RealtimeProtocol,
)
from beluga_voice.providers.registry import new_provider
from beluga_voice.testing.fake_realtime import FakeRealtimeServer, Reply
from beluga_voice.testing.speech import tone

CHUNK = 24000 * 2 * 40 // 1000  # 40 ms of PCM16 at 24 kHz


def parse_rate(seconds: float, binary: bool) -> float:
    if binary:
        core = RealtimeProtocol(GROK, GrokVoiceSettings(binary_audio=True), [])
        message: str | bytes = bytes(CHUNK)
    else:
        core = RealtimeProtocol(OPENAI, OpenAIRealtimeSettings(), [])
        message = json.dumps(
            {
                "type": "response.output_audio.delta",
                "event_id": "e",
                "response_id": "r",
                "item_id": "i",
                "output_index": 0,
                "content_index": 0,
                "delta": base64.b64encode(bytes(CHUNK)).decode(),
            }
        )
    core.receive(json.dumps({"type": "response.created", "response": {"id": "r"}}))
    core.receive(
        json.dumps(
            {
                "type": "response.output_item.added",
                "response_id": "r",
                "output_index": 0,
                "item": {"id": "i", "type": "message", "role": "assistant", "content": []},
            }
        )
    )
    n = 0
    start = time.process_time()
    while time.process_time() - start < seconds:
        for _ in range(200):
            core.receive(message)
        n += 200
    return n * 0.04 / (time.process_time() - start)


def send_rate(seconds: float) -> float:
    core = RealtimeProtocol(OPENAI, OpenAIRealtimeSettings(replay_max_ms=1000), [])
    pcm = bytes(CHUNK // 2)  # 20 ms, as a pipeline sends
    n = 0
    start = time.process_time()
    while time.process_time() - start < seconds:
        for _ in range(200):
            core.audio(pcm)
            for message in core.take_outbound():
                json.dumps(message)
        n += 200
    return n * 0.02 / (time.process_time() - start)


async def turn_latency(turns: int) -> list[float]:
    user = tone(0.5, 24000, 300.0, 0.5) + bytes(24000 * 2 * 4 // 10)
    async with FakeRealtimeServer(script=[Reply(tone(0.5), "ok")]) as fake:
        config = S2SConfig(api_key="sk-bench-0000000000")
        provider = new_provider(
            "openai_realtime",
            config,
            with_provider_specific(base_url=fake.url, vad_silence_duration_ms=300),
        )
        async with provider.stream() as session:
            latencies = await first_audio_latencies(session, user, 960, turns)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="CPU seconds per measure")
    parser.add_argument("--turns", type=int, default=20)
    args = parser.parse_args()
    print(f"parse reply audio, base64 JSON : {parse_rate(args.seconds, False):8.0f} x real time")
    print(f"parse reply audio, Grok binary : {parse_rate(args.seconds, True):8.0f} x real time")
    print(f"encode user audio (append)     : {send_rate(args.seconds):8.0f} x real time")
    lat = sorted(anyio.run(turn_latency, args.turns))
    p95 = lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))]
    print(
        f"loopback turn latency (fake)   : median {1000 * statistics.median(lat):.1f} ms, "
        f"p95 {1000 * p95:.1f} ms over {len(lat)} turns"
    )


if __name__ == "__main__":
    main()
