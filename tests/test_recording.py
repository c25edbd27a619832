"""Record a provider session and replay it: bit-exact, deterministic, loud on divergence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from beluga_voice.providers import S2SConfig, bare_provider, with_provider_specific
from beluga_voice.providers.errors import ErrorCode, S2SError
from beluga_voice.providers.events import (
    AudioChunk,
    ResponseDone,
    SessionClosed,
    SessionError,
    SessionEvent,
    SpeechStarted,
    ToolCall,
    ToolCallCancelled,
    Transcript,
    Usage,
)
from beluga_voice.providers.recording import (
    Recording,
    RecordingProvider,
    ReplayDivergence,
    ReplayProvider,
)
from beluga_voice.providers.recording.format import decode_event, encode_event
from beluga_voice.secrets import redact
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
    mock = bare_provider("mock")
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
    provider = bare_provider(
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
    with pytest.raises(S2SError, match=r"provider_specific\.recording"):
        bare_provider(
            "replay",
            S2SConfig(provider="replay"),
            with_provider_specific(recording=str(tmp_path / "missing.jsonl")),
        )


_text = st.text(max_size=40)
_events = st.one_of(
    st.builds(
        AudioChunk,
        st.binary(max_size=64).map(lambda b: b[: len(b) // 2 * 2]),
        st.sampled_from([16000, 24000]),
        is_final=st.booleans(),
        response_id=st.none() | _text,
    ),
    st.builds(Transcript, st.sampled_from(["user", "assistant"]), _text, final=st.booleans()),
    st.builds(ResponseDone, st.none() | _text, st.sampled_from(["completed", "cancelled"])),
    st.builds(ToolCall, _text, _text, _text),
    st.builds(ToolCallCancelled, st.lists(_text, max_size=3).map(tuple)),
    st.builds(Usage, st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6)),
    st.builds(
        SessionError,
        st.builds(S2SError, _text, st.sampled_from(list(ErrorCode)), _text),
        fatal=st.booleans(),
    ),
    st.builds(SpeechStarted, st.none() | st.floats(0, 1e6)),
)


@given(_events)
def test_events_survive_the_recording_format(event: SessionEvent) -> None:
    data, audio = encode_event(event)
    back = decode_event(json.loads(json.dumps(data)), audio)
    assert type(back) is type(event)
    for name in event.__dataclass_fields__:
        if name == "timestamp":
            continue
        before, after = getattr(event, name), getattr(back, name)
        if isinstance(before, S2SError):
            assert isinstance(after, S2SError)
            assert (after.op, after.code, after.message) == (before.op, before.code, before.message)
        elif isinstance(before, str):
            assert after == redact(before)  # the format scrubs every string
        elif isinstance(before, tuple):
            assert after == tuple(redact(x) for x in before)
        else:
            assert after == before


def test_a_broken_recording_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.with_suffix(".pcm").write_bytes(b"")
    path.write_text('{"kind": "header", "version": 1}\n{"kind": "out"}\n')
    with pytest.raises(ValueError, match=r"broken.jsonl:2: bad entry"):
        Recording(path)
    path.write_text('{"kind": "header", "version": 99}\n')
    with pytest.raises(ValueError, match="recording format 99"):
        Recording(path)
