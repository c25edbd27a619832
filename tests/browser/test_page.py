"""The browser client in headless Chromium: a spoken question gets a spoken answer from the
offline ``local`` provider over WebRTC and over WebSocket, and a barge-in silences it.

Needs the system Chromium (``make browser``, part of ``make test``, installs it as root; CI runs as root) and
Playwright (the ``test`` extra).  Screenshots go to ``$BELUGA_ARTIFACTS`` (default
``tests/artifacts/``), which CI keeps.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aiortc", reason="the webrtc extra is not installed")
pytest.importorskip("playwright", reason="playwright (the test extra) is not installed")

from aioice.ice import get_host_addresses

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

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        chromium_path() is None and not os.environ.get("CI"),
        reason="no system Chromium: run `make browser` as root (apt-get install chromium)",
    ),
    pytest.mark.skipif(
        not get_host_addresses(True, False),
        reason="ICE needs a non-loopback IPv4 address (aioice skips 127.0.0.1)",
    ),
]


@pytest.fixture
def artifacts() -> Path:
    """Where screenshots go: ``$BELUGA_ARTIFACTS``, default ``tests/artifacts/``."""
    path = Path(os.environ.get("BELUGA_ARTIFACTS", Path(__file__).parent.parent / "artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
async def page_url() -> AsyncIterator[str]:
    if chromium_path() is None:  # only reached on CI, which must run these tests
        pytest.fail(
            "CI has no Chromium: `make browser` (part of `make test`) installs it when run as root"
        )
    provider = new_provider("local", S2SConfig(provider="local"))

    def build(transport: Any) -> list[Any]:
        return [transport.input(), S2SProcessor(provider), transport.output()]

    async with WebRTCServer(build, ServerConfig()) as server:
        yield f"http://127.0.0.1:{server.port}/"


@pytest.mark.parametrize("transport", ["webrtc", "websocket"])
async def test_spoken_question_gets_a_spoken_answer_barge_in_silences_it_and_drops_reconnect(
    page_url: str, transport: str, tmp_path: Path, artifacts: Path
) -> None:
    wav = tmp_path / "question.wav"
    write_question_wav(wav, "what is two plus two", lead_s=1.0, tail_s=6.0)
    async with launch_chromium(wav) as browser:
        page, turn = await speak_to_page(browser, page_url, transport)
        assert turn.transcript == [("user", "what is two plus two"), ("assistant", "That is 4.")]
        # "That is 4." lasts about a second: most of it must have come out of the player.
        assert turn.loud_samples > 0.4 * 48000, turn
        assert 0 < turn.latency_ms < 5000, turn
        await page.screenshot(path=str(artifacts / f"client-{transport}.png"))

        stop_ms, played_s = await barge_in(page)
        assert stop_ms < 100, f"playback went on {stop_ms:.0f} ms after the interruption"
        assert played_s < 1.5, "the long answer (about 6 s) was cut, not played out"
        assert await page.evaluate("window.beluga.session.kind") == transport

        # A dropped connection (here the socket, closed under the page) is reconnected.
        await page.evaluate("window.beluga.session.ws.close(4000, 'dropped')")
        await page.wait_for_function(
            "window.beluga.stats.connects === 2", timeout=10_000, polling=50
        )
        assert turn.console_errors == []
