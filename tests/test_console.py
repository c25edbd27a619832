"""``beluga-voice console`` with the sound card replaced by a fake; the missing-PortAudio line."""

from __future__ import annotations

import importlib
import io
import os
import signal

import anyio
import pytest
from rich.console import Console
from typer.testing import CliRunner

from beluga_voice.agents.rules import RuleAgent
from beluga_voice.cli import app
from beluga_voice.cli.console import run_console
from beluga_voice.providers.local import LocalS2SProvider
from beluga_voice.stt import PocketSphinxSTT
from beluga_voice.testing.fake_sounddevice import FakeSoundDevice
from beluga_voice.tts import EspeakTTS

_VOICE = EspeakTTS("en-us+f2", sample_rate=16000, rate=150)


def blocks(pcm: bytes, size: int = 640) -> list[bytes]:
    pcm += bytes(-len(pcm) % size)
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


@pytest.mark.anyio
async def test_a_spoken_turn_is_answered_shown_live_and_ctrl_c_ends_cleanly() -> None:
    provider = LocalS2SProvider(stt=PocketSphinxSTT(phrases=RuleAgent().phrases()))
    reply_rate = provider.config.sample_rate
    mic = blocks(bytes(9600) + _VOICE.synthesize("hello"))  # then silence, as a quiet room
    fake = FakeSoundDevice(mic, realtime=True, expect_played=2 * reply_rate)  # 1 s heard
    screen = io.StringIO()
    out = Console(file=screen, width=120, force_terminal=True)

    async def press_ctrl_c() -> None:
        await fake.all_played.wait()
        os.kill(os.getpid(), signal.SIGINT)  # the console's own handler takes it

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(press_ctrl_c)
            view = await run_console(provider, backend=fake, out=out)
    said = [(line.role, line.text) for line in view.lines]
    assert said[:2] == [("user", "hello"), ("assistant", "Hello! I am Beluga. How can I help you?")]
    assert view.interims_seen > 0  # the turn in progress was shown before it was final
    assert len(view.latencies_ms) == 1 and 0 < view.latencies_ms[0] < 5000
    assert view.lines[1].latency_ms == view.latencies_ms[0]
    assert fake.closed == 2  # Ctrl-C released the microphone and the speaker
    assert view.errors == []
    shown = screen.getvalue()
    assert "you: hello" in shown and "bot: Hello! I am Beluga" in shown
    assert " ms]" in shown  # the reply's latency, on its line
    Console(file=screen).print(view.summary())
    assert "Reply after turn end" in screen.getvalue()


def test_missing_portaudio_is_one_line_naming_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = importlib.import_module

    def no_library(name: str, package: str | None = None) -> object:
        if name == "sounddevice":  # what sounddevice raises when PortAudio is absent
            raise OSError("cannot load library 'libportaudio.so.2'")
        return real_import(name, package)

    monkeypatch.setattr(importlib, "import_module", no_library)
    result = CliRunner().invoke(app, ["console", "-p", "local"])
    assert result.exit_code == 1
    text = " ".join(result.stderr.split())  # rich wraps long lines
    assert "PortAudio library was not found" in text
    assert "apt-get install libportaudio2" in text
    assert "Traceback" not in result.output


def test_a_missing_microphone_is_named() -> None:
    async def main() -> None:
        await run_console(LocalS2SProvider(), backend=FakeSoundDevice([], inputs=0))

    with pytest.raises(Exception, match="has no input"):
        anyio.run(main)
