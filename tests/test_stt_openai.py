"""OpenAI transcription against the fakes: the realtime session and the HTTP endpoint."""

from __future__ import annotations

import json
import logging

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_cascade_errors import Turns

from beluga_voice.audio.turns import tone
from beluga_voice.frames import InputAudioFrame, TranscriptionFrame
from beluga_voice.processors.resilience import Retry
from beluga_voice.processors.stt import STTProcessor
from beluga_voice.providers.errors import ErrorCode, S2SError
from beluga_voice.stt.base import AsyncSTTStream, STTResult
from beluga_voice.stt.openai_http import OpenAIHTTPSTT
from beluga_voice.stt.openai_realtime import OpenAIRealtimeSTT, OpenAITranscriptionCore
from beluga_voice.testing.fake_openai_stt import FakeOpenAITranscription
from beluga_voice.testing.fake_openai_stt_http import FakeTranscriptionHTTP
from beluga_voice.testing.harness import run_pipeline

pytestmark = pytest.mark.anyio

KEY = "sk-test-0penai-key-0123456789"
SPEECH = tone(0.6, 24000, 300, 0.5)


async def _say(stream: AsyncSTTStream, pcm: bytes = SPEECH) -> None:
    for i in range(0, len(pcm), 960):
        await stream.send(pcm[i : i + 960])


async def _finals(stream: AsyncSTTStream, count: int) -> list[STTResult]:
    got: list[STTResult] = []
    with anyio.fail_after(5):
        async for result in stream.results():
            got.append(result)
            if sum(r.final for r in got) == count:
                break
    return got


# -- realtime transcription session --------------------------------------------------------------


async def test_a_transcription_session_gives_deltas_then_finals_in_commit_order() -> None:
    async with FakeOpenAITranscription(["Hello there.", "And again."]) as fake:
        engine = OpenAIRealtimeSTT(api_key=KEY, base_url=fake.base_url, language="en")
        async with engine.connect() as stream:
            await _say(stream)
            await stream.finalize()
            await _say(stream)
            await stream.finalize()
            got = await _finals(stream, 2)
    assert [r.text for r in got if r.final] == ["Hello there.", "And again."]
    assert [r.text for r in got if not r.final][:2] == ["Hello", "Hello there."]
    assert fake.records.violations == [] and fake.records.server_violations == []
    session = fake.records.sessions[0]
    assert session["type"] == "transcription"
    assert session["audio"]["input"]["transcription"] == {
        "model": "gpt-4o-transcribe",
        "language": "en",
    }
    assert session["audio"]["input"]["turn_detection"] is None
    assert fake.records.commits == 2


async def test_reset_clears_the_buffer_and_an_empty_utterance_is_not_committed() -> None:
    async with FakeOpenAITranscription(["Only this."]) as fake:
        engine = OpenAIRealtimeSTT(api_key=KEY, base_url=fake.base_url)
        async with engine.connect() as stream:
            await _say(stream)
            await stream.reset()
            await stream.finalize()
            assert await _finals(stream, 1) == [STTResult("", final=True)]
            await _say(stream)
            await stream.finalize()
            assert (await _finals(stream, 1))[-1].text == "Only this."
    assert fake.records.clears == 1 and fake.records.commits == 1


async def test_a_drop_mid_utterance_reconnects_with_a_new_session_and_replays() -> None:
    async with FakeOpenAITranscription(["Replayed whole."], drop_after_ms=[300]) as fake:
        engine = OpenAIRealtimeSTT(api_key=KEY, base_url=fake.base_url)
        async with engine.connect() as stream:
            await _say(stream)
            await stream.finalize()
            got = await _finals(stream, 1)
    assert got[-1] == STTResult("Replayed whole.", final=True, audio_ms=600.0)
    assert fake.records.connections == 2 and len(fake.records.sessions) == 2


async def test_a_wrong_key_is_an_authentication_error_without_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with FakeOpenAITranscription(api_key="sk-other-key-0123456789") as fake:
        engine = OpenAIRealtimeSTT(api_key=KEY, base_url=fake.base_url)
        with pytest.raises(S2SError) as caught:
            async with engine.connect():
                pass  # pragma: no cover - refused
    assert caught.value.code is ErrorCode.AUTHENTICATION_ERROR
    for text in (str(caught.value), repr(engine), caplog.text):
        assert KEY not in text


def _core() -> OpenAITranscriptionCore:
    return OpenAITranscriptionCore(KEY, "wss://x/v1", {"model": "gpt-4o-mini-transcribe"})


def test_completions_out_of_order_are_reported_in_commit_order() -> None:
    core = _core()
    for item in ("item_a", "item_b"):
        core.audio(bytes(4800))
        core.finalize()
        core.receive(json.dumps({"type": "input_audio_buffer.committed", "item_id": item}))
    done = "conversation.item.input_audio_transcription.completed"
    assert core.receive(json.dumps({"type": done, "item_id": "item_b", "transcript": "B"})) == []
    out = core.receive(json.dumps({"type": done, "item_id": "item_a", "transcript": "A"}))
    assert [(r.text, r.final) for r in out] == [("A", True), ("B", True)]


def test_server_errors_map_to_our_codes() -> None:
    event = {"type": "error", "error": {"type": "invalid_request_error", "code": "invalid_api_key"}}
    with pytest.raises(S2SError) as caught:
        _core().receive(json.dumps(event))
    assert caught.value.code is ErrorCode.AUTHENTICATION_ERROR
    failed = {
        "type": "conversation.item.input_audio_transcription.failed",
        "item_id": "i",
        "error": {"type": "server_error", "message": "boom"},
    }
    with pytest.raises(S2SError) as caught:
        _core().receive(json.dumps(failed))
    assert caught.value.code is ErrorCode.INTERNAL_ERROR and caught.value.is_retryable


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
_EVENTS = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            [
                "input_audio_buffer.committed",
                "conversation.item.input_audio_transcription.delta",
                "conversation.item.input_audio_transcription.completed",
                "session.updated",
            ]
        )
    },
    optional={
        "item_id": st.sampled_from(["a", "b", ""]) | _JSON,
        "delta": _JSON,
        "transcript": _JSON,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_EVENTS | _JSON, max_size=8))
def test_any_event_gives_results_or_an_s2s_error_never_a_crash(events: list[object]) -> None:
    core = _core()
    core.audio(bytes(4800))
    core.finalize()
    finals = 0
    for event in events:
        try:
            results = core.receive(json.dumps(event))
        except S2SError:
            continue
        assert all(isinstance(r.text, str) for r in results)
        finals += sum(r.final for r in results)
    assert finals <= 1  # one utterance was committed: never two finals for it


# -- the HTTP endpoint ---------------------------------------------------------------------------


async def test_http_transcribes_each_finalized_utterance_as_a_wav_upload() -> None:
    async with FakeTranscriptionHTTP(["First.", "Second."], api_key=KEY) as fake:
        engine = OpenAIHTTPSTT(api_key=KEY, base_url=fake.base_url, language="en", prompt="hi")
        async with engine.connect() as stream:
            await stream.send(bytes(32000))
            await stream.finalize()
            await stream.send(bytes(16000))
            await stream.finalize()
            got = await _finals(stream, 2)
    assert got == [
        STTResult("First.", final=True, audio_ms=1000.0),
        STTResult("Second.", final=True, audio_ms=500.0),
    ]
    assert fake.violations == []
    assert [r["seconds"] for r in fake.requests] == [1.0, 0.5]
    assert fake.requests[0]["model"] == "gpt-4o-transcribe"
    assert fake.requests[0]["language"] == "en" and fake.requests[0]["prompt"] == "hi"


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [(401, ErrorCode.AUTHENTICATION_ERROR, False), (503, ErrorCode.MODEL_NOT_AVAILABLE, True)],
)
async def test_http_failures_are_s2s_errors_by_status(
    status: int, code: ErrorCode, retryable: bool
) -> None:
    async with FakeTranscriptionHTTP(fail_status=[status]) as fake:
        engine = OpenAIHTTPSTT(api_key=KEY, base_url=fake.base_url)
        async with engine.connect() as stream:
            await stream.send(bytes(3200))
            await stream.finalize()
            with pytest.raises(S2SError) as caught:
                await _finals(stream, 1)
    assert caught.value.code is code and caught.value.is_retryable is retryable
    assert KEY not in str(caught.value)


async def test_retry_transcribes_the_turn_again_after_a_503() -> None:
    turns = Turns()
    speech = tone(0.5, 16000, 300, 0.5)
    frames = [InputAudioFrame(speech[i : i + 640], 16000) for i in range(0, len(speech), 640)]
    turns.start_of.add(id(frames[0]))
    turns.end_of.add(id(frames[-1]))
    async with FakeTranscriptionHTTP(["Heard on the retry."], fail_status=[503]) as fake:
        engine = OpenAIHTTPSTT(api_key=KEY, base_url=fake.base_url)
        stt = STTProcessor(engine, endpointing="frames", name="stt")
        out, task = await run_pipeline(
            [turns, Retry(stt, retry_delay=0.01)],
            frames,
            until=lambda out: any(isinstance(f, TranscriptionFrame) for f in out),
        )
    assert not task.errors
    assert [f.text for f in out if isinstance(f, TranscriptionFrame)] == ["Heard on the retry."]
    assert len(fake.requests) == 1  # the accepted one (the 503 was not recorded)
