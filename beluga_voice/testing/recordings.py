"""Recordings made against the fake servers, shipped as examples of record and replay.

``python -m beluga_voice.testing.recordings DIR`` records the conversation below
(:func:`converse`: three lines, the second talked over) against the fake OpenAI Realtime
and Gemini Live servers through
:class:`~beluga_voice.providers.recording.RecordingProvider`, driven by a scripted
caller on the virtual clock.  The package ships the results as
``beluga_voice/data/recordings/{openai,gemini}_fake.jsonl`` (:func:`shipped_recording`),
with the caller's speech beside them, and the ``replay`` provider plays them offline.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from importlib import resources
from pathlib import Path

import anyio
from pydantic import SecretStr

from ..audio.turns import tone
from ..providers.base import StreamingS2SProvider
from ..providers.config import S2SConfig, with_provider_specific
from ..providers.recording import RecordingProvider
from ..providers.registry import bare_provider
from .caller import Caller, Turn
from .fake_realtime import FakeRealtimeServer
from .fake_realtime.script import Reply

__all__ = ["FAKES", "LINES", "converse", "record_fake", "shipped_recording", "voice_of"]

LINES = ("what is two plus three", "tell me a story", "thank you")
"""The caller's lines; the second is talked over (barge-in) 300 ms into its reply."""

_KEY = "sk-fake-recording-key-0123456789"


def shipped_recording(name: str = "openai_fake.jsonl") -> Path:
    """The path of a recording shipped with the package (its caller's lines lie in the
    ``<stem>.voice`` directory beside it: see :func:`voice_of`)."""
    return Path(str(resources.files("beluga_voice") / "data" / "recordings" / name))


def voice_of(recording: Path) -> Path:
    """The speech cache of the caller that made ``recording``."""
    return recording.with_suffix(".voice")


@asynccontextmanager
async def _fake_openai() -> AsyncIterator[StreamingS2SProvider]:
    """The fake OpenAI server: a short answer, a long one (to talk over), a short one."""
    script = [
        Reply(tone(0.6, 24000, 330.0), "Two plus three is five."),
        Reply(tone(2.0, 24000, 262.0), "Once upon a time there was a beluga."),
        Reply(tone(0.4, 24000, 392.0), "You are welcome."),
    ]
    fake = FakeRealtimeServer("openai", script=script, user_transcripts=LINES, api_key=_KEY)
    async with fake:
        config = S2SConfig(api_key=SecretStr(_KEY), timeout=10.0)
        opts = with_provider_specific(base_url=fake.url)
        provider = bare_provider("openai_realtime", config, opts)
        assert isinstance(provider, StreamingS2SProvider)
        yield provider


@asynccontextmanager
async def _fake_gemini() -> AsyncIterator[StreamingS2SProvider]:
    """The fake Gemini Live server, with the same three answers."""
    from .fake_gemini import FakeGeminiServer
    from .fake_gemini.script import ScriptedTurn

    turns = [
        ScriptedTurn(tone(0.6, 24000, 330.0), "Two plus three is five.", LINES[0]),
        ScriptedTurn(tone(2.0, 24000, 262.0), "Once upon a time there was a beluga.", LINES[1]),
        ScriptedTurn(tone(0.4, 24000, 392.0), "You are welcome.", LINES[2]),
    ]
    async with FakeGeminiServer(turns, api_key=_KEY) as fake:
        config = S2SConfig(provider="gemini", api_key=SecretStr(_KEY), timeout=10.0)
        provider = bare_provider("gemini", config, with_provider_specific(base_url=fake.url))
        assert isinstance(provider, StreamingS2SProvider)
        yield provider


FAKES: dict[str, Callable[[], AbstractAsyncContextManager[StreamingS2SProvider]]] = {
    "openai_fake": _fake_openai,
    "gemini_fake": _fake_gemini,
}
"""The fake servers recordings are made against, by recording name."""


async def converse(target: object, speech_cache: Path | None = None) -> list[Turn]:
    """The scripted conversation of the recording, against ``target`` (virtual clock)."""
    async with Caller(target, clock="virtual", speech_cache=speech_cache) as call:
        await call.say(LINES[0])
        await call.say(LINES[1], barge_in_after_ms=300)
        await call.say(LINES[2])
    return call.turns


async def record_fake(name: str, path: Path) -> tuple[RecordingProvider, list[Turn]]:
    """Record :func:`converse` against a fresh fake server (``FAKES[name]``) into ``path``."""
    async with FAKES[name]() as provider:
        recorder = RecordingProvider(provider, path)
        turns = await converse(recorder, voice_of(path))
    return recorder, turns


def main() -> None:  # pragma: no cover - the regeneration script
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    for name in FAKES:
        path = out / f"{name}.jsonl"
        _, turns = anyio.run(record_fake, name, path)
        for turn in turns:
            print(f"  {turn}")
        print(f"wrote {path}")


if __name__ == "__main__":  # pragma: no cover
    main()
