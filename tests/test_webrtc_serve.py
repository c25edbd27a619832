"""``beluga-voice serve`` with WebRTC: the transports it offers, the page's address it prints,
and options it refuses before any worker starts."""

from __future__ import annotations

import re
import subprocess
import sys

import anyio
import httpx
import pytest

pytest.importorskip("aiortc", reason="the webrtc extra is not installed")

pytestmark = pytest.mark.anyio

SERVE = [sys.executable, "-m", "beluga_voice.cli", "serve", "--port", "0", "--provider", "mock"]


async def test_serve_prints_the_page_address_and_the_page_offers_both_transports() -> None:
    process = await anyio.open_process(
        [*SERVE, "--ice-server", "stun:stun.example.org:3478"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        out = b""
        with anyio.fail_after(20):
            while b"browser client" not in out or not out.endswith(b"\n"):
                out += await process.stdout.receive()
        match = re.search(
            r"browser client \(webrtc \+ websocket\): (http://127\.0\.0\.1:\d+/)", out.decode()
        )
        assert match, out
        async with httpx.AsyncClient() as client:
            page = await client.get(match.group(1), timeout=5)
        assert page.status_code == 200
        assert 'content="webrtc websocket"' in page.text
    finally:
        process.terminate()
        with anyio.fail_after(10):
            await process.wait()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--transport", "carrier-pigeon"], "unknown transport"),
        (["--ice-server", "http://stun.example.org"], "not a STUN or TURN URL"),
    ],
)
def test_serve_refuses_bad_webrtc_options_with_a_reason(options: list[str], message: str) -> None:
    done = subprocess.run(
        [*SERVE, *options], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode != 0
    assert message in done.stderr + done.stdout
