"""Phone calls end to end: a simulated carrier (Twilio, Telnyx, Plivo) against our server.

The caller is espeak speech turned into 8 kHz G.711; the bot is the offline ``local``
provider.  One call per carrier covers an answer, a keypress, and a barge-in whose
truncation follows the marks the carrier echoed (the phone plays out 200 ms behind what
it received, so our own pacing would over-count).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from typer.testing import CliRunner

from beluga_voice.agents.rules import RuleAgent
from beluga_voice.audio import alaw_encode, ulaw_encode
from beluga_voice.cli import app
from beluga_voice.frames import (
    BotStoppedSpeakingFrame,
    Direction,
    Frame,
    InputDTMFFrame,
    TranscriptionFrame,
)
from beluga_voice.pipeline import FrameProcessor
from beluga_voice.processors.s2s import S2SProcessor
from beluga_voice.providers.local import LocalS2SProvider
from beluga_voice.stt import PocketSphinxSTT
from beluga_voice.testing.carriers import SimulatedCall
from beluga_voice.transports.telephony import CARRIERS, TelnyxSerializer
from beluga_voice.transports.websocket import ServerConfig, WebSocketServer, WebSocketTransport
from beluga_voice.tts import EspeakTTS

pytestmark = pytest.mark.anyio

_STT = PocketSphinxSTT(phrases=RuleAgent().phrases())
_VOICE = EspeakTTS("en-us+f2", sample_rate=8000, rate=150)


class Seen(FrameProcessor):
    """Notes the frames that pass, for the test to read."""

    def __init__(self, frames: list[tuple[Frame, Direction]]) -> None:
        super().__init__()
        self.frames = frames

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        self.frames.append((frame, direction))
        await self.push_frame(frame, direction)


@asynccontextmanager
async def phone_server(
    carrier: str, frames: list[tuple[Frame, Direction]], **serializer: Any
) -> AsyncIterator[WebSocketServer]:
    def build(t: WebSocketTransport) -> list[Any]:
        provider = LocalS2SProvider(stt=_STT)
        return [t.input(), Seen(frames), S2SProcessor(provider), Seen(frames), t.output()]

    factory = CARRIERS[carrier]
    if serializer:
        factory = lambda: TelnyxSerializer(**serializer)  # noqa: E731
    config = ServerConfig(port=0)
    async with WebSocketServer(build, config, serializer_factory=factory) as server:
        yield server


def caller(text: str, codec: str = "pcmu") -> bytes:
    pcm = _VOICE.synthesize(text)
    return (ulaw_encode if codec == "pcmu" else alaw_encode)(pcm)


@pytest.mark.parametrize(
    ("carrier", "codec"),
    [("twilio", "pcmu"), ("telnyx", "pcmu"), ("plivo", "pcmu"), ("telnyx", "pcma")],
)
async def test_a_call_is_answered_keys_arrive_and_barge_in_truncates_at_the_echoed_mark(
    carrier: str, codec: str
) -> None:
    frames: list[tuple[Frame, Direction]] = []
    options = {"codec": codec} if codec != "pcmu" else {}
    with anyio.fail_after(30):
        async with (
            phone_server(carrier, frames, **options) as server,
            SimulatedCall(server.url, carrier, codec=codec) as call,
        ):
            await call.pause(0.3)
            await call.say(caller("hello", codec))
            await call.pause(0.6)  # the end of the caller's turn
            await call.wait_until(played_seconds=0.8)  # the answer is being heard
            await call.press("5")
            async with anyio.create_task_group() as tg:
                tg.start_soon(call.say, caller("stop", codec) * 2)
                await call.wait_until(clears=call.clears + 1)
                tg.cancel_scope.cancel()
            await call.pause(0.4)  # the echoes of the marks reach the server
    said = [(f.role, f.text) for f, _ in frames if isinstance(f, TranscriptionFrame) and f.final]
    # The caller was heard and answered.  What pocketsphinx makes of telephone-band espeak
    # varies ("hello", "help", under load once nothing it knew): that is the recogniser's
    # business, not the carrier's, so any answer to a transcribed turn counts.
    users = [text for role, text in said if role == "user"]
    answers = [text for role, text in said if role == "assistant"]
    assert users and users[0] and answers and answers[0], said
    assert call.errors == []
    keys = [f for f, d in frames if isinstance(f, InputDTMFFrame) and d is Direction.DOWNSTREAM]
    assert [k.digit for k in keys[:1]] == ["5"]
    # Barge-in: the carrier was told to clear, and the truncation is where the last mark
    # echoed before the clear says, which is behind what was sent (the phone buffers).
    assert call.clears >= 1 and call.echoed_before_clear
    stops = [
        f
        for f, d in frames
        if isinstance(f, BotStoppedSpeakingFrame) and f.interrupted and d is Direction.UPSTREAM
    ]
    echoed_ms = [int(name.split(":")[1]) / 8 for name in call.echoed_before_clear]
    # The last mark the server had when it cleared: the phone may have echoed one or two
    # more that were still on the wire (20 ms each), never fewer.
    assert stops and stops[0].played_ms in echoed_ms
    assert echoed_ms[-1] - 60 <= stops[0].played_ms <= echoed_ms[-1]
    sent_ms = len(call.received) / 8
    assert stops[0].played_ms < sent_ms - 100
    assert len(call.played) / 8 <= sent_ms


async def test_serve_protocol_twilio_takes_a_call() -> None:
    """``beluga-voice serve --protocol twilio``: a real server process answers a call."""
    process = await anyio.open_process(
        [sys.executable, "-m", "beluga_voice.cli", "serve", "--port", "0", "--protocol", "twilio"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        banner = b""
        with anyio.fail_after(20):
            while b"\n" not in banner:
                banner += await process.stdout.receive()
        match = re.search(
            r"serving local for twilio calls on (ws://127\.0\.0\.1:\d+/)", banner.decode()
        )
        assert match, banner
        with anyio.fail_after(20):
            async with SimulatedCall(match.group(1), "twilio") as call:
                await call.pause(0.3)
                await call.say(caller("hello"))
                await call.pause(0.6)
                await call.wait_until(played_seconds=0.5)
        assert call.errors == [] and call.echoed  # marks came with the audio, and went back
    finally:
        process.terminate()
        with anyio.fail_after(10):
            await process.wait()


def test_serve_refuses_an_unknown_protocol() -> None:
    result = CliRunner().invoke(app, ["serve", "--protocol", "sip"])
    assert result.exit_code == 1
    assert "twilio, telnyx, plivo" in " ".join(result.stderr.split())
