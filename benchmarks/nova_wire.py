"""Cost of the amazon_nova wire path, and its latency against the local fake Bedrock.

Run: ``.venv/bin/python benchmarks/nova_wire.py [--events 5000] [--turns 20]``.

Prints (1) microseconds per 20 ms audio event to JSON-wrap, frame and chunk-sign it, and to
decode a server audio event; and (2) over loopback HTTP/2 (h2c) against
:class:`~beluga_voice.testing.fake_bedrock.FakeBedrock`: the time from the last byte of a
user turn to the first reply audio chunk, per turn (median and p95).  The fake answers
instantly, so (2) measures this client and the fake, not Bedrock.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path

import anyio
from botocore.credentials import ReadOnlyCredentials

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _turn_latency import first_audio_latencies

from beluga_voice.providers.amazon_nova import AmazonNovaSonicProvider, NovaSettings
from beluga_voice.providers.amazon_nova.eventstream import EventStreamDecoder, encode_message
from beluga_voice.providers.amazon_nova.leg import inner_message
from beluga_voice.providers.amazon_nova.protocol import NovaProtocol
from beluga_voice.providers.amazon_nova.signing import ChunkSigner
from beluga_voice.testing.fake_bedrock import FakeBedrock
from beluga_voice.testing.speech import tone


def codec(events: int) -> None:
    core = NovaProtocol(NovaSettings(), [])
    core.opening_events()
    signer = ChunkSigner(ReadOnlyCredentials("AKIDBENCH", "secret", None), "us-east-1", "0" * 64)
    pcm = b"\x01\x00" * 320
    now = dt.datetime.now(dt.UTC)
    start = time.perf_counter()
    for _ in range(events):
        signer.sign(inner_message(core.audio_event(pcm)), now=now)
    send_us = 1e6 * (time.perf_counter() - start) / events

    reply = json.dumps(
        {
            "event": {
                "audioOutput": {"contentId": "c", "content": base64.b64encode(pcm * 2).decode()}
            }
        }
    )
    frame = encode_message(
        {":message-type": "event", ":event-type": "chunk", ":content-type": "application/json"},
        json.dumps({"bytes": base64.b64encode(reply.encode()).decode()}).encode(),
    )
    core.on_event(
        {"event": {"contentStart": {"contentId": "c", "type": "AUDIO", "role": "ASSISTANT"}}}
    )
    decoder = EventStreamDecoder()
    start = time.perf_counter()
    for _ in range(events):
        [message] = decoder.feed(frame)
        body = json.loads(base64.b64decode(json.loads(message.payload)["bytes"]))
        core.on_event(body)
    recv_us = 1e6 * (time.perf_counter() - start) / events
    print(f"send: wrap + frame + sign one 20 ms audio event: {send_us:7.1f} us")
    print(f"recv: decode + map one 40 ms reply audio event:   {recv_us:7.1f} us")
    print(f"      (a real-time stream needs 50 sends/s: {50 * send_us / 1e4:.3f} % of a core)")


async def latency(turns: int) -> None:
    # 300 ms of speech, then exactly the 300 ms of quiet after which the fake ends the turn.
    speech = tone(0.3, rate=16000) + b"\x00\x00" * (16000 * 3 // 10)
    async with FakeBedrock() as fake:
        provider = AmazonNovaSonicProvider(
            settings=NovaSettings(
                endpoint_url=fake.url,
                aws_access_key_id=fake.credentials.access_key,
                aws_secret_access_key=fake.credentials.secret_key,
            )
        )
        opened = time.perf_counter()
        async with provider.stream() as session:
            open_ms = 1000 * (time.perf_counter() - opened)
            latencies = await first_audio_latencies(session, speech, 640, turns)
    samples = sorted(1000 * s for s in latencies)
    p95 = samples[min(len(samples) - 1, int(0.95 * len(samples)))]
    print(f"open session (connect, sign, sessionStart..audio block, HTTP 200): {open_ms:.1f} ms")
    print(
        f"last user byte -> first reply audio over h2c, {turns} turns: "
        f"median {statistics.median(samples):.2f} ms, p95 {p95:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--turns", type=int, default=20)
    args = parser.parse_args()
    codec(args.events)
    anyio.run(latency, args.turns)


if __name__ == "__main__":
    main()
