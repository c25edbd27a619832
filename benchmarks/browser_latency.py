"""Mouth-to-ear latency of the browser client on loopback, over WebRTC and WebSocket.

Headless Chromium (the system's, as in ``tests/browser``) opens the page that
``beluga-voice serve`` serves, its fake microphone asks "what is two plus two", and the
page measures, in its own audio clock, the time from the end of the speech (as its
capture worklet heard it) to the first sample of the spoken reply its player worklet
played: everything a user waits for, except the sound card's output latency.  The offline
``local`` provider answers; its figure includes the end-of-turn silence the endpointer
waits for (``silence_ms``) and the recognition and synthesis (``offline_voice.py`` measures
those alone).  Each run then interrupts a long reply and prints how long sound went on.

    python benchmarks/browser_latency.py [--runs 3] [--screenshot docs/img/client.png]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

import anyio

from beluga_voice.processors.s2s import S2SProcessor
from beluga_voice.providers.config import S2SConfig
from beluga_voice.providers.registry import new_provider
from beluga_voice.testing.browser import (
    barge_in,
    chromium_path,
    launch_chromium,
    speak_to_page,
    write_question_wav,
)
from beluga_voice.transports.webrtc import WebRTCServer
from beluga_voice.transports.websocket import ServerConfig


def summary(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):6.0f} ms  "
        f"min {min(values):6.0f}  max {max(values):6.0f}  (n={len(values)})"
    )


async def main(runs: int, screenshot: Path | None) -> None:
    provider = new_provider("local", S2SConfig(provider="local"))

    def build(transport: Any) -> list[Any]:
        return [transport.input(), S2SProcessor(provider), transport.output()]

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "question.wav"
        write_question_wav(wav, "what is two plus two", lead_s=1.0, tail_s=6.0)
        async with (
            WebRTCServer(build, ServerConfig()) as server,
            launch_chromium(wav) as browser,
        ):
            url = f"http://127.0.0.1:{server.port}/"
            for transport in ("webrtc", "websocket"):
                latencies: list[float] = []
                stops: list[float] = []
                for _ in range(runs):
                    page, turn = await speak_to_page(browser, url, transport)
                    latencies.append(turn.latency_ms)
                    if screenshot is not None and transport == "webrtc":
                        await page.screenshot(path=str(screenshot))
                    stop_ms, _ = await barge_in(page)
                    stops.append(max(0.0, stop_ms))
                    await page.close()
                print(f"{transport:9}  mouth to ear  {summary(latencies)}")
                print(f"{'':9}  barge-in stop {summary(stops)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--screenshot", type=Path, help="save the page (WebRTC) as this PNG")
    args = parser.parse_args()
    if chromium_path() is None:
        raise SystemExit("chromium is not installed: run `make sysdeps` as root")
    anyio.run(main, args.runs, args.screenshot)
