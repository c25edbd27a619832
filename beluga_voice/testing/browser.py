"""The browser client driven in headless Chromium: tests and the latency benchmark.

Drives the system's Chromium (Debian's ``chromium`` package, ``make browser`` installs it
as root) through Playwright (the ``test`` extra) with no browser download: a fake
microphone plays a WAV file (``--use-file-for-fake-audio-capture``), the page is the one
the server serves at ``/``, and what the page measured is read back from
``window.beluga.stats`` (what the player worklet actually played, the reply latency, the
events).  Chromium runs with networking features off (no QUIC, no background requests),
so the only traffic is to the server on loopback.
"""

from __future__ import annotations

import shutil
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import anyio

from ..audio.resample import StreamResampler

__all__ = [
    "CHROMIUM",
    "FAKE_MIC_RATE",
    "Turn",
    "barge_in",
    "chromium_path",
    "launch_chromium",
    "speak_to_page",
    "write_question_wav",
]

CHROMIUM: Final = "/usr/bin/chromium"
FAKE_MIC_RATE: Final = 48000


def chromium_path() -> str | None:
    """The system Chromium, or None when it is not installed."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    return shutil.which("chromium")


def write_question_wav(path: Path, text: str, *, lead_s: float, tail_s: float) -> float:
    """Write ``text`` spoken by the embedded voice between two silences (48 kHz mono,
    the rate of Chromium's fake microphone); returns when the speech ends, in seconds."""
    from ..tts.espeak import EspeakTTS

    tts = EspeakTTS(sample_rate=16000)
    speech = StreamResampler(16000, FAKE_MIC_RATE)
    pcm = speech.process(tts.synthesize(text)) + speech.flush()
    lead = bytes(2 * int(lead_s * FAKE_MIC_RATE))
    tail = bytes(2 * int(tail_s * FAKE_MIC_RATE))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(FAKE_MIC_RATE)
        out.writeframes(lead + pcm + tail)
    return lead_s + len(pcm) / (2 * FAKE_MIC_RATE)


@asynccontextmanager
async def launch_chromium(fake_mic: Path) -> AsyncIterator[Any]:
    """A headless Chromium (Playwright ``Browser``) whose microphone plays ``fake_mic`` once."""
    from playwright.async_api import async_playwright

    path = chromium_path()
    if path is None:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={fake_mic}%noloop",
    ]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=path, args=args)
        try:
            yield browser
        finally:
            await browser.close()


@dataclass(slots=True)
class Turn:
    """What the page saw of one spoken question and its answer."""

    transcript: list[tuple[str, str]]
    """``(role, text)`` of the final transcripts shown on the page."""
    loud_samples: int
    """Samples of bot audio (above -50 dBFS) the page's player worklet played."""
    latency_ms: float
    """Mouth to ear: the end of the fake microphone's speech (as the page's capture
    worklet heard it) to the first played sample of the reply."""
    console_errors: list[str]


async def speak_to_page(
    browser: Any, url: str, transport: str, *, timeout: float = 30.0
) -> tuple[Any, Turn]:
    """Open the page at ``url``, start a ``transport`` session, let the fake microphone
    ask its question and wait for the spoken answer; returns the page (still connected)
    and what it measured."""
    page = await browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(url)
    await page.click(f'#transport-choice label:has(input[value="{transport}"])')
    await page.click("#start")
    with anyio.fail_after(timeout):
        await page.wait_for_function(
            "window.beluga.stats.latencies.length > 0 && window.beluga.stats.events.some("
            "e => e.type === 'bot.stopped_speaking')",
            timeout=timeout * 1000,
            polling=50,
        )
    stats = await page.evaluate("window.beluga.stats")
    shown = await page.eval_on_selector_all(
        "#transcript li.user, #transcript li.assistant",
        "els => els.map(e => [e.className, e.textContent])",
    )
    turn = Turn(
        transcript=[(role, text) for role, text in shown],
        loud_samples=int(stats["loud"]),
        latency_ms=float(stats["latencies"][0]),
        console_errors=errors,
    )
    return page, turn


async def barge_in(page: Any, text: str = "help", *, after_s: float = 0.4) -> tuple[float, float]:
    """Type ``text`` (a question with a long answer), let the answer play ``after_s``
    seconds, press Interrupt; returns ``(stop_ms, played_s)``: from the press to the last
    loud sample the page played, and how much of the answer was played in all."""
    # The page counts a new reply from a first loud sample after 0.4 s of quiet: let the
    # last reply's audio (which may trail its bot.stopped_speaking event) play out first.
    await page.wait_for_function(
        "window.beluga.context.currentTime - window.beluga.stats.lastLoud > 0.5",
        timeout=10_000,
        polling=20,
    )
    onsets = len(await page.evaluate("window.beluga.stats.onsets"))
    await page.fill("#text", text)
    await page.press("#text", "Enter")
    await page.wait_for_function(
        f"window.beluga.stats.onsets.length > {onsets}", timeout=20_000, polling=20
    )
    start = (await page.evaluate("window.beluga.stats.onsets"))[-1]
    await page.wait_for_function(
        f"window.beluga.context.currentTime > {start + after_s}", timeout=5_000, polling=20
    )
    pressed = await page.evaluate("window.beluga.interrupt()")
    await page.wait_for_function(
        "window.beluga.stats.events.some(e => e.type === 'bot.stopped_speaking' && e.interrupted)",
        timeout=5_000,
        polling=20,
    )
    # Let whatever was still in flight play out before reading when sound last played.
    await page.wait_for_function(
        f"window.beluga.context.currentTime > {pressed + 0.5}", timeout=5_000, polling=50
    )
    last = await page.evaluate("window.beluga.stats.lastLoud")
    return 1000 * (last - pressed), last - start
