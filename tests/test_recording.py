"""Record a provider session and replay it: bit-exact, deterministic, loud on divergence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from beluga_voice.providers import S2SConfig, new_provider, with_provider_specific
from beluga_voice.providers.events import SessionClosed, Transcript
from beluga_voice.providers.recording import (
    Recording,
    RecordingProvider,
    ReplayDivergence,
    ReplayProvider,
)
from beluga_voice.testing.caller import Caller, CallerError
from beluga_voice.testing.recordings import (
    FAKES,
    LINES,
    converse,
    record_fake,
    shipped_recording,
    voice_of,
)

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("fake", sorted(FAKES))
async def test_recording_against_a_fake_server_replays_bit_exactly(
    fake: str, tmp_path: Path
) -> None:
    path = tmp_path / "call.jsonl"
    recorder, live = await record_fake(fake, path)
    assert recorder.paths == [path]
    replay = ReplayProvider(path)
    again = await converse(replay)

    assert not replay.divergences
    assert replay.sessions[0].unplayed == []  # every recorded input was sent again
    assert [t.transcript for t in again] == [t.transcript for t in live] == list(LINES)
    for before, after in zip(live, again, strict=True):
        assert after.reply.audio == before.reply.audio  # bit for bit
        assert after.reply.text == before.reply.text
        assert after.reply.first_audio_ms == before.reply.first_audio_ms
        assert after.reply.played_ms == before.reply.played_ms
        assert after.interrupted == before.interrupted
    # OpenAI reports the user's speech, so the S2S processor cuts a reply the caller is
    # still playing; Gemini Live does not (a local VAD would have to)
    assert live[1].interrupted is (fake == "openai_fake") and not live[0].interrupted


async def test_replay_fails_loudly_with_a_readable_diff(tmp_path: Path) -> None:
    path = tmp_path / "call.jsonl"
    await record_fake("openai_fake", path)
    replay = ReplayProvider(path)
    with pytest.raises(CallerError) as caught:
        async with Caller(replay) as call:
            first = await call.say(LINES[0])  # as recorded
            await call.say("tell me a joke")  # not what was said then
    message = str(caught.value)
    assert "invalid_input" in message and "diverged at input #" in message
    assert "audio differs at sample" in message and "last matching inputs" in message
    assert len(replay.divergences) == 1 and isinstance(replay.divergences[0], ReplayDivergence)
    assert first.reply.mentions("5")


async def test_replay_checks_operations_and_texts(tmp_path: Path) -> None:
    mock = new_provider("mock")
    path = tmp_path / "text.jsonl"
    async with RecordingProvider(mock, path).stream() as session:  # type: ignore[arg-type]
        await session.send_text("book a table for two")
        async for event in session:
            if isinstance(event, Transcript) and event.role == "assistant":
                break
    async with ReplayProvider(path).stream() as session:
        with pytest.raises(ReplayDivergence) as caught:
            await session.send_text("book a table for three")
        events = [e async for e in session]
    assert "- book a table for two" in str(caught.value)
    assert "+ book a table for three" in str(caught.value)
    closed = events[-1]
    assert isinstance(closed, SessionClosed) and closed.error is caught.value


async def test_recording_redacts_secrets_and_keeps_audio_aside(tmp_path: Path) -> None:
    path = tmp_path / "call.jsonl"
    await record_fake("openai_fake", path)
    text = path.read_text()
    assert "sk-fake" not in text
    header = json.loads(text.splitlines()[0])
    assert header["provider"] == "openai_realtime" and "api_key" not in header["config"]
    assert header["capabilities"]["server_vad"] is True
    recording = Recording(path)
    assert path.with_suffix(".pcm").stat().st_size == len(recording.input_audio()) + len(
        recording.output_audio()
    )
    kinds = {e.kind for e in recording.entries}
    assert kinds == {"in", "out"}
    assert all(e.t >= 0 for e in recording.entries)


@pytest.mark.parametrize("name", sorted(FAKES))
async def test_shipped_fixture_replays_offline(name: str) -> None:
    """The recordings shipped with the package, through the registry's ``replay`` and a
    caller speaking from the shipped speech cache (the very audio it spoke then)."""
    path = shipped_recording(f"{name}.jsonl")
    provider = new_provider(
        "replay", S2SConfig(provider="replay"), with_provider_specific(recording=str(path))
    )
    recording = Recording(path)
    turns = await converse(provider, voice_of(path))
    assert isinstance(provider, ReplayProvider) and not provider.divergences
    assert [t.transcript for t in turns] == list(LINES)
    assert [t.interrupted for t in turns] == [False, name == "openai_fake", False]
    heard = b"".join(r.audio for t in turns for r in t.replies)
    assert heard == recording.output_audio() and len(heard) > 0
    texts = [e.text for e in recording.events() if isinstance(e, Transcript) and e.final]
    assert [t.reply.text for t in turns] == [x for x in texts if x not in LINES]


def test_replay_needs_a_readable_recording(tmp_path: Path) -> None:
    from beluga_voice.providers.errors import S2SError

    with pytest.raises(S2SError, match=r"provider_specific\.recording"):
        new_provider(
            "replay",
            S2SConfig(provider="replay"),
            with_provider_specific(recording=str(tmp_path / "missing.jsonl")),
        )
