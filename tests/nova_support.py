"""Helpers shared by the amazon_nova tests: a provider pointed at the fake, speech, waits."""

from __future__ import annotations

from typing import Any

import anyio

from beluga_voice.providers.amazon_nova import AmazonNovaSonicProvider, NovaSettings
from beluga_voice.providers.config import S2SConfig
from beluga_voice.providers.events import SessionEvent
from beluga_voice.testing.fake_bedrock import FakeBedrock, Script
from beluga_voice.testing.speech import tone

SPEECH = tone(0.3, rate=16000)
SILENCE = b"\x00\x00" * 320  # 20 ms at 16 kHz
REPLY_BYTES = int(Script().reply_seconds * 24000) * 2


def nova(
    fake: FakeBedrock, config: S2SConfig | None = None, **settings: Any
) -> AmazonNovaSonicProvider:
    creds = fake.credentials
    base = {
        "endpoint_url": fake.url,
        "aws_access_key_id": creds.access_key,
        "aws_secret_access_key": creds.secret_key,
        "connect_timeout": 5.0,
    }
    ssl_context = fake.client_ssl_context() if fake.tls else None
    return AmazonNovaSonicProvider(
        config, settings=NovaSettings(**{**base, **settings}), ssl_context=ssl_context
    )


async def say(session: Any, pcm: bytes = SPEECH, silence_chunks: int = 20) -> int:
    """Send speech then silence in 20 ms chunks; return the bytes sent."""
    sent = 0
    for i in range(0, len(pcm), 640):
        await session.send_audio(pcm[i : i + 640])
        sent += len(pcm[i : i + 640])
    for _ in range(silence_chunks):
        await session.send_audio(SILENCE)
        sent += len(SILENCE)
    return sent


async def until(session: Any, kind: type, limit: float = 5.0) -> list[SessionEvent]:
    """Iterate ``session`` up to and including the first event of type ``kind``."""
    out: list[SessionEvent] = []
    with anyio.fail_after(limit):
        async for event in session:
            out.append(event)
            if isinstance(event, kind):
                return out
    raise AssertionError(f"session ended before {kind.__name__}: {out}")


def assert_clean_records(fake: FakeBedrock) -> None:
    """Every client frame was decoded by botocore and its chunk signature verified."""
    for record in fake.records:
        if record.status != 200:
            continue
        assert record.error is None, record.error
        assert record.frames_verified == len(record.events) + int(record.end_marker)
        if not record.ended_by_server:
            assert record.client_ended
            assert record.events[-3:] == ["contentEnd", "promptEnd", "sessionEnd"]
            assert record.end_marker
