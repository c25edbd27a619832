"""AssemblyAI Universal-Streaming STT against the fake: turns, batching, errors, secrets."""

from __future__ import annotations

import json
import logging

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beluga_voice.audio.turns import tone
from beluga_voice.providers.errors import ErrorCode, S2SError
from beluga_voice.stt.assemblyai import AssemblyAICore, AssemblyAISTT, ChunkBatcher
from beluga_voice.stt.base import STTResult
from beluga_voice.stt.wire import WebSocketSTTStream
from beluga_voice.testing.fake_assemblyai import FakeAssemblyAIServer

pytestmark = pytest.mark.anyio

KEY = "aai-test-5ecret-key-0123456789"
SPEECH = tone(1.0, 16000, 300, 0.5)
FRAME = 640  # 20 ms at 16 kHz


def _engine(fake: FakeAssemblyAIServer, **options: object) -> AssemblyAISTT:
    return AssemblyAISTT(api_key=KEY, base_url=fake.url, **options)  # type: ignore[arg-type]


async def _say(stream: WebSocketSTTStream, pcm: bytes = SPEECH) -> None:
    for i in range(0, len(pcm), FRAME):
        await stream.send(pcm[i : i + FRAME])


async def _until_final(stream: WebSocketSTTStream) -> list[STTResult]:
    got: list[STTResult] = []
    with anyio.fail_after(5):
        async for result in stream.results():
            got.append(result)
            if result.final:
                break
    return got


async def test_partial_turns_then_the_formatted_final() -> None:
    async with (
        FakeAssemblyAIServer(["hello there general kenobi"], api_key=KEY) as fake,
        _engine(
            fake, keyterms=["kenobi"], max_turn_silence=2000, format_turns=True
        ).connect() as stream,
    ):
        await _say(stream)
        await stream.finalize()
        got = await _until_final(stream)
    assert got[-1] == STTResult("Hello there general kenobi.", final=True, audio_ms=1000.0)
    interims = [r.text for r in got[:-1]]
    assert interims[0] == "hello" and "hello there general kenobi" in interims
    assert all(not r.final for r in got[:-1])
    query = fake.records.queries[0]
    assert query["sample_rate"] == ["16000"] and query["encoding"] == ["pcm_s16le"]
    assert query["format_turns"] == ["true"] and query["speech_model"] == [
        "universal-streaming-english"
    ]
    assert query["max_turn_silence"] == ["2000"]
    assert json.loads(query["keyterms_prompt"][0]) == ["kenobi"]
    assert fake.records.controls[0] == "ForceEndpoint"
    assert not fake.records.violations and not fake.records.server_violations


async def test_without_format_turns_the_end_of_turn_is_final() -> None:
    async with (
        FakeAssemblyAIServer(["hello there"]) as fake,
        _engine(fake, format_turns=False).connect() as stream,
    ):
        await _say(stream)
        await stream.finalize()
        got = await _until_final(stream)
    assert got[-1].text == "hello there" and got[-1].final
    assert not any(m.get("turn_is_formatted") for m in fake.records.sent)


async def test_20_ms_frames_go_out_in_chunks_of_at_least_50_ms() -> None:
    async with (
        FakeAssemblyAIServer(["one two"]) as fake,
        _engine(fake).connect() as stream,
    ):
        await _say(stream, SPEECH[: 16000 * 2 * 37 // 100])  # 370 ms: 18.5 frames
        await stream.finalize()
        await _until_final(stream)
    chunks = fake.records.chunk_ms
    assert len(chunks) >= 5 and all(50.0 <= ms <= 1000.0 for ms in chunks)
    sent = SPEECH[: 16000 * 2 * 37 // 100]
    assert bytes(fake.records.audio[: len(sent)]) == sent
    assert not any(fake.records.audio[len(sent) :])  # the flush is padded with silence
    assert not fake.records.violations


async def test_finalize_sends_force_endpoint_and_yields_the_final() -> None:
    async with (
        FakeAssemblyAIServer(["first turn", "second turn"]) as fake,
        _engine(fake, finalize_timeout=30.0, format_turns=True).connect() as stream,
    ):
        for expected in ("First turn.", "Second turn."):
            await _say(stream, SPEECH[:16000])
            await stream.finalize()
            got = await _until_final(stream)
            assert got[-1].text == expected and got[-1].final
    assert fake.records.controls[:2] == ["ForceEndpoint", "ForceEndpoint"]
    assert fake.records.controls[-1] == "Terminate"


async def test_the_service_s_own_turn_ends_are_joined_into_one_utterance() -> None:
    quiet = bytes(16000 * 2 // 2)  # 500 ms of silence: past max_turn_silence
    async with (
        FakeAssemblyAIServer(["good morning", "how are you"]) as fake,
        _engine(fake, max_turn_silence=300, format_turns=True).connect() as stream,
    ):
        await _say(stream, SPEECH[:16000] + quiet + SPEECH[:16000])
        await stream.finalize()
        got = await _until_final(stream)
    assert got[-1].text == "Good morning. How are you." and got[-1].final


async def test_a_bad_key_is_an_authentication_error_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with FakeAssemblyAIServer(api_key="the-right-key-123456") as fake:
        engine = _engine(fake)
        with pytest.raises(S2SError) as caught, anyio.fail_after(2):
            async with engine.connect() as stream:
                await _until_final(stream)
    assert caught.value.code is ErrorCode.AUTHENTICATION_ERROR
    assert not caught.value.is_retryable
    assert "4001 Not Authorized" in caught.value.message
    assert fake.records.connections == 1  # not retried
    for text in (str(caught.value), repr(caught.value), repr(engine), caplog.text):
        assert KEY not in text


async def test_a_temporary_token_goes_in_the_query_and_is_never_shown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    token = "tmp-token-0123456789abcdef"
    async with (
        FakeAssemblyAIServer(["hi"], api_key="unused-key-0123456789", tokens=[token]) as fake,
        AssemblyAISTT(token=token, base_url=fake.url, format_turns=True).connect() as stream,
    ):
        await _say(stream, SPEECH[:16000])
        await stream.finalize()
        got = await _until_final(stream)
        assert repr(stream.core).count(token) == 0
    assert got[-1].text == "Hi."
    assert token not in caplog.text


def test_the_key_is_a_secret_in_reprs_and_a_missing_one_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = AssemblyAISTT(api_key=KEY)
    core = engine.new_core()
    assert KEY not in repr(engine) and KEY not in repr(core) and KEY not in core.url()
    assert core.headers() == {"Authorization": KEY}
    monkeypatch.delenv("ASSEMBLYAI_API_KEY", raising=False)
    with pytest.raises(S2SError) as caught:
        AssemblyAISTT()
    assert caught.value.code is ErrorCode.INVALID_CONFIG


def test_the_registry_makes_it_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from beluga_voice.stt.registry import STT_SERVICES, new_stt

    assert STT_SERVICES["assemblyai"].credentials == ("ASSEMBLYAI_API_KEY",)
    monkeypatch.delenv("ASSEMBLYAI_API_KEY", raising=False)
    assert not STT_SERVICES["assemblyai"].has_credentials()
    monkeypatch.setenv("ASSEMBLYAI_API_KEY", KEY)
    engine = new_stt("assemblyai", speech_model="universal-streaming-multilingual")
    assert isinstance(engine, AssemblyAISTT)
    assert engine.query["speech_model"] == "universal-streaming-multilingual"


def _core() -> AssemblyAICore:
    return AssemblyAISTT(api_key=KEY, format_turns=True).new_core()


def _turn(order: int, text: str, *, end: bool = False, formatted: bool = False) -> str:
    return json.dumps(
        {
            "type": "Turn",
            "turn_order": order,
            "turn_is_formatted": formatted,
            "end_of_turn": end,
            "transcript": text,
            "end_of_turn_confidence": 0.5,
            "words": [],
        }
    )


def test_close_codes_and_error_messages_map_to_error_codes() -> None:
    core = _core()
    assert core.close_code(4001) is ErrorCode.AUTHENTICATION_ERROR
    assert core.close_code(3007) is ErrorCode.INVALID_AUDIO_FORMAT
    assert core.close_code(3005) is ErrorCode.INTERNAL_ERROR
    assert core.close_code(4002) is ErrorCode.QUOTA_EXCEEDED
    with pytest.raises(S2SError) as caught:
        core.receive(json.dumps({"type": "Error", "error_code": 3006, "error": "x" * 1000}))
    assert caught.value.code is ErrorCode.INVALID_REQUEST
    assert len(caught.value.message) < 320
    with pytest.raises(S2SError) as caught:
        core.receive("not json")
    assert caught.value.code is ErrorCode.MALFORMED_RESPONSE


def test_the_unformatted_end_of_turn_is_not_final_when_formatting_is_on() -> None:
    core = _core()
    core.audio(bytes(6400))
    messages, now = core.finalize()
    assert now is None and messages[-1] == json.dumps({"type": "ForceEndpoint"})
    assert core.receive(_turn(0, "hello world", end=True)) == [
        STTResult("hello world", final=False, audio_ms=200.0)
    ]
    got = core.receive(_turn(0, "Hello world.", end=True, formatted=True))
    assert got == [STTResult("Hello world.", final=True, audio_ms=200.0)]


def test_a_reset_utterance_s_turn_is_dropped() -> None:
    core = _core()
    core.audio(bytes(3200))
    core.receive(_turn(0, "cut off"))
    assert core.reset() == [json.dumps({"type": "ForceEndpoint"})]
    assert core.receive(_turn(0, "cut off words", end=True)) == []
    assert core.receive(_turn(0, "Cut off words.", end=True, formatted=True)) == []
    assert core.receive(_turn(1, "next")) == [STTResult("next", final=False)]


@settings(max_examples=200, deadline=None)
@given(
    rate=st.sampled_from([8000, 16000, 22050, 24000]),
    sizes=st.lists(st.integers(min_value=0, max_value=80000), max_size=40),
)
def test_batching_keeps_every_byte_in_order_within_the_chunk_limits(
    rate: int, sizes: list[int]
) -> None:
    batcher = ChunkBatcher(rate)
    data = bytes(i % 251 + 1 for i in range(sum(sizes)))
    chunks: list[bytes] = []
    offset = 0
    for size in sizes:
        chunks += batcher.add(data[offset : offset + size])
        offset += size
    for chunk in chunks:
        assert chunk and len(chunk) % 2 == 0
        assert 0.05 <= len(chunk) / (2 * rate) <= 1.0
    flushed = batcher.flush()
    assert len(flushed) <= 1 and len(batcher) == 0
    for chunk in flushed:
        assert 0.05 <= len(chunk) / (2 * rate) <= 1.0
    sent = b"".join(chunks + flushed)
    assert sent[: len(data)] == data
    assert not any(sent[len(data) :])  # only silence pads the flush


def test_an_overdue_final_is_the_transcript_so_far_or_a_timeout() -> None:
    core = _core()
    core.audio(bytes(3200))
    core.finalize()
    with pytest.raises(S2SError) as caught:
        core.expire()
    assert caught.value.code is ErrorCode.STREAM_TIMEOUT
    core = _core()
    core.audio(bytes(3200))
    core.receive(_turn(0, "half a"))
    core.finalize()
    assert core.expire() == STTResult("half a", final=True, audio_ms=100.0)
