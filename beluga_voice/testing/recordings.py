"""Recordings made against the fake servers, shipped as examples of record and replay.

``python -m beluga_voice.testing.recordings DIR`` records the conversation below against
the fake OpenAI Realtime server (:class:`FakeRealtimeServer`) through
:class:`~beluga_voice.providers.recording.RecordingProvider`, driven by a scripted
caller on the virtual clock.  The package ships the result as
``beluga_voice/data/recordings/openai_fake.jsonl`` (:func:`shipped_recording`), which
the ``replay`` provider plays offline.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

import anyio
from pydantic import SecretStr

from ..providers.config import S2SConfig, with_provider_specific
from ..providers.recording import RecordingProvider
from ..providers.registry import new_provider
from .caller import Caller, Turn
from .fake_realtime import FakeRealtimeServer
from .fake_realtime.script import Reply
from .speech import tone

__all__ = [
    "LINES",
    "converse",
    "fake_openai_provider",
    "record_fake_openai",
    "shipped_recording",
    "voice_of",
]

LINES = ("what is two plus three", "tell me a story", "thank you")
"""The caller's lines; the second is talked over (barge-in) 300 ms into its reply."""

_FAKE_KEY = "sk-fake-recording-key-0123456789"


def shipped_recording(name: str = "openai_fake.jsonl") -> Path:
    """The path of a recording shipped with the package (its caller's lines lie in the
    ``<stem>.voice`` directory beside it: see :func:`voice_of`)."""
    return Path(str(resources.files("beluga_voice") / "data" / "recordings" / name))


def voice_of(recording: Path) -> Path:
    """The speech cache of the caller that made ``recording``."""
    return recording.with_suffix(".voice")


def fake_server() -> FakeRealtimeServer:
    """The fake OpenAI server of the recording: a short answer, a long one, a short one."""
    script = [
        Reply(tone(0.6, 24000, 330.0), "Two plus three is five."),
        Reply(tone(2.0, 24000, 262.0), "Once upon a time there was a beluga."),
        Reply(tone(0.4, 24000, 392.0), "You are welcome."),
    ]
    return FakeRealtimeServer(
        "openai", script=script, user_transcripts=LINES, api_key=_FAKE_KEY, pace=0.0
    )


def fake_openai_provider(fake: FakeRealtimeServer) -> object:
    config = S2SConfig(api_key=SecretStr(_FAKE_KEY), timeout=10.0)
    opts = with_provider_specific(base_url=fake.url, reconnect_delay=0.0)
    return new_provider("openai_realtime", config, opts)


async def converse(target: object, speech_cache: Path | None = None) -> list[Turn]:
    """The scripted conversation of the recording, against ``target`` (virtual clock)."""
    async with Caller(target, clock="virtual", speech_cache=speech_cache) as call:
        await call.say(LINES[0])
        await call.say(LINES[1], barge_in_after_ms=300)
        await call.say(LINES[2])
    return call.turns


async def record_fake_openai(path: Path) -> tuple[RecordingProvider, list[Turn]]:
    """Record :func:`converse` against a fresh fake OpenAI server into ``path``."""
    async with fake_server() as fake:
        provider = fake_openai_provider(fake)
        recorder = RecordingProvider(provider, path)  # type: ignore[arg-type]
        turns = await converse(recorder, voice_of(path))
    return recorder, turns


def main() -> None:  # pragma: no cover - the regeneration script
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".") / "openai_fake.jsonl"
    _, turns = anyio.run(record_fake_openai, out)
    for turn in turns:
        print(turn)
    print(f"wrote {out}")


if __name__ == "__main__":  # pragma: no cover
    main()
