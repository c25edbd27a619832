"""Registry (including entry points), the mock's scripting, and the session limit."""

from __future__ import annotations

import sys
import textwrap

import anyio
import pytest

from beluga_voice.providers import (
    AudioChunk,
    AudioFormat,
    AudioInput,
    ErrorCode,
    Interrupted,
    ResponseDone,
    S2SConfig,
    S2SError,
    SessionClosed,
    SessionError,
    SpeechStarted,
    ToolCall,
    Transcript,
    list_providers,
    new_conversation_context,
    new_provider,
    registry,
)
from beluga_voice.providers.mock import AdvancedMockS2SProvider
from beluga_voice.testing import tone

pytestmark = pytest.mark.anyio

SPEECH = tone(0.3, 16000, 300, 0.5)
SILENCE = bytes(2 * 16000 * 4 // 10)  # 0.4 s


def test_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(S2SError) as info:
        new_provider("acme")
    assert info.value.code is ErrorCode.UNSUPPORTED_PROVIDER
    assert "acme" in str(info.value) and "mock" in str(info.value)


def test_provider_needing_a_key_says_where_to_put_it(monkeypatch: pytest.MonkeyPatch) -> None:
    class Keyed(AdvancedMockS2SProvider):
        pass

    registry.register_provider(
        "keyed", lambda c, s: Keyed(config=c), api_key_env=("KEYED_API_KEY",), requires_api_key=True
    )
    monkeypatch.delenv("KEYED_API_KEY", raising=False)
    with pytest.raises(S2SError) as info:
        new_provider("keyed")
    assert info.value.code is ErrorCode.INVALID_CONFIG and "KEYED_API_KEY" in str(info.value)
    monkeypatch.setenv("KEYED_API_KEY", "sk-from-the-environment-123")
    provider = new_provider("keyed")
    assert provider.config.secret() == "sk-from-the-environment-123"


def test_third_party_provider_from_an_entry_point(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "acme_voice.py").write_text(
        textwrap.dedent(
            '''
            from beluga_voice.providers.mock import AdvancedMockS2SProvider

            class AcmeProvider(AdvancedMockS2SProvider):
                """Acme's speech-to-speech."""
                requires_api_key = False

                def __init__(self, config, settings=None):
                    super().__init__("acme", config=config)
            '''
        )
    )
    dist = tmp_path / "acme_voice-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-voice\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[beluga_voice.providers]\nacme = acme_voice:AcmeProvider\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_discovered", False)
    assert "acme" in list_providers()
    provider = new_provider("acme")
    assert provider.name == "acme" and provider.config.provider == "acme"
    spec = registry.get_provider_spec("acme")
    assert spec.description == "Acme's speech-to-speech." and not spec.requires_api_key
    sys.modules.pop("acme_voice", None)
    registry._registry.pop("acme", None)


async def test_mock_answers_each_turn_and_records_everything() -> None:
    mock = AdvancedMockS2SProvider(
        audio_outputs=[tone(0.2), tone(0.1, hz=880)],
        transcripts=["first reply", "second reply"],
        user_transcripts=["hello", "again"],
    )
    events: list[object] = []
    async with mock.stream(new_conversation_context("s1")) as session:
        for _ in range(2):
            await session.send_audio(SPEECH)
            await session.send_audio(SILENCE)
        with anyio.fail_after(5):
            async for event in session:
                events.append(event)
                if sum(isinstance(e, ResponseDone) for e in events) == 2:
                    break
    audio = [e for e in events if isinstance(e, AudioChunk)]
    assert b"".join(a.audio for a in audio[: len(tone(0.2)) // 960]) == tone(0.2)
    said = [(e.role, e.text) for e in events if isinstance(e, Transcript)]
    assert said == [
        ("user", "hello"),
        ("assistant", "first reply"),
        ("user", "again"),
        ("assistant", "second reply"),
    ]
    assert mock.received_bytes == 2 * (len(SPEECH) + len(SILENCE))
    assert mock.turns == 2 and mock.calls == 1


async def test_mock_reports_barge_in_and_records_the_interrupt() -> None:
    mock = AdvancedMockS2SProvider(audio_outputs=[tone(2.0)], pace=1.0)
    got_audio = anyio.Event()
    events: list[object] = []
    async with mock.stream() as session:
        await session.send_audio(SPEECH)
        await session.send_audio(SILENCE)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:

                async def barge_in() -> None:
                    await got_audio.wait()
                    await session.send_audio(SPEECH)

                tg.start_soon(barge_in)
                async for event in session:
                    events.append(event)
                    if isinstance(event, AudioChunk):
                        got_audio.set()
                    if isinstance(event, ResponseDone):
                        break
        await session.interrupt(120.0)
    done = events[-1]
    assert isinstance(done, ResponseDone) and done.status == "cancelled"
    assert any(isinstance(e, SpeechStarted) for e in events)
    assert any(isinstance(e, Interrupted) for e in events)
    assert sum(len(e.audio) for e in events if isinstance(e, AudioChunk)) < len(tone(2.0))
    assert mock.interrupts == [120.0]


@pytest.mark.parametrize("mode", ["fail_after_chunks", "disconnect_after_chunks"])
async def test_mock_fails_mid_stream(mode: str) -> None:
    mock = AdvancedMockS2SProvider(**{mode: 3})
    async with mock.stream() as session:
        await session.send_audio(SPEECH + SILENCE)
        with anyio.fail_after(5):
            events = [e async for e in session]
    assert sum(isinstance(e, AudioChunk) for e in events) == 3
    closed = events[-1]
    assert isinstance(closed, SessionClosed) and closed.error is not None
    assert closed.error.is_retryable
    if mode == "fail_after_chunks":
        assert any(isinstance(e, SessionError) and e.fatal for e in events)


async def test_mock_fails_on_the_nth_call_and_stalls() -> None:
    mock = AdvancedMockS2SProvider(fail_on_call=2, stall_after_chunks=1)
    async with mock.stream():
        pass
    with pytest.raises(S2SError) as info:
        await mock.start_streaming()
    assert info.value.code is ErrorCode.NETWORK_ERROR
    async with mock.stream() as session:
        await session.send_audio(SPEECH + SILENCE)
        chunks = 0
        with anyio.move_on_after(0.3) as scope:
            async for event in session:
                chunks += isinstance(event, AudioChunk)
        assert scope.cancelled_caught and chunks == 1  # stalled after one chunk


async def test_mock_tool_call_round_trip() -> None:
    mock = AdvancedMockS2SProvider(tool_calls={1: ("get_time", '{"tz": "UTC"}')})
    async with mock.stream() as session:
        await session.send_audio(SPEECH + SILENCE)
        with anyio.fail_after(5):
            async for event in session:
                if isinstance(event, ToolCall):
                    assert event.parsed_arguments() == {"tz": "UTC"}
                    await session.send_tool_result(event.call_id, "12:00")
                if isinstance(event, ResponseDone):
                    break
    assert mock.tool_results == [("call_1", "12:00")]


async def test_one_shot_process() -> None:
    mock = AdvancedMockS2SProvider(audio_outputs=[tone(0.25)], transcripts=["hi there"])
    out = await mock.process(AudioInput(SPEECH + SILENCE, AudioFormat(sample_rate=16000)))
    assert out.data == tone(0.25) and out.transcript == "hi there" and out.provider == "mock"
    with pytest.raises(S2SError) as info:
        await mock.process(AudioInput(SPEECH, AudioFormat(sample_rate=8000)))
    assert info.value.code is ErrorCode.INVALID_AUDIO_FORMAT


async def test_concurrency_limit_under_a_thousand_attempts() -> None:
    limit = 25
    mock = AdvancedMockS2SProvider(
        config=S2SConfig(provider="mock", max_concurrent_sessions=limit, timeout=0.5)
    )
    release = anyio.Event()
    opened = 0
    refused: list[S2SError] = []
    all_refused = anyio.Event()

    async def attempt() -> None:
        nonlocal opened
        try:
            session = await mock.start_streaming()
        except S2SError as exc:
            refused.append(exc)
            if len(refused) == 1000 - limit:
                all_refused.set()
            return
        opened += 1
        await release.wait()
        await session.close()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for _ in range(1000):
                tg.start_soon(attempt)
            await all_refused.wait()
            assert mock.limiter.in_use == limit
            release.set()
    assert opened == limit
    assert {e.code for e in refused} == {ErrorCode.RATE_LIMIT}
    assert mock.limiter.in_use == 0
    # A waiter gets a slot freed within its timeout.
    first = await mock.start_streaming()
    others = [await mock.start_streaming() for _ in range(limit - 1)]

    late_sessions = []

    async def wait_for_slot() -> None:
        late_sessions.append(await mock.start_streaming())

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait_for_slot)
        await anyio.wait_all_tasks_blocked()  # the late one is waiting for a slot
        assert not late_sessions
        await first.close()
    late = late_sessions[0]
    assert not late.closed
    for s in [*others, late]:
        await s.close()


async def test_receive_audio_yields_only_audio_and_reports_errors() -> None:
    mock = AdvancedMockS2SProvider(audio_outputs=[tone(0.1)], fail_after_chunks=3)
    chunks = []
    async with mock.stream() as session:
        await session.send_audio(SPEECH + SILENCE)
        with anyio.fail_after(5):
            async for chunk in session.receive_audio():
                chunks.append(chunk)
    assert all(isinstance(c, AudioChunk) for c in chunks)
    assert [c.error is None for c in chunks] == [True, True, True, False]
    assert chunks[-1].error.code is ErrorCode.STREAM_ERROR and chunks[-1].is_final


async def test_mock_records_are_bounded_per_session_and_in_sessions_kept() -> None:
    """A long-running ``serve -p mock`` must not keep every byte it was sent."""
    mock = AdvancedMockS2SProvider(keep_sessions=4, record_limit_bytes=64_000)
    chunk = bytes(3200)  # 100 ms at 16 kHz
    for _ in range(10):
        async with mock.stream() as session:
            for _ in range(40):  # 4 s: 128,000 bytes, twice what a session keeps
                await session.send_audio(chunk)
    assert mock.calls == 10
    assert len(mock.sessions) == 4
    assert all(s.received_bytes <= 64_000 for s in mock.sessions)
    assert all(s.dropped_audio_bytes == 128_000 - s.received_bytes for s in mock.sessions)
    assert mock.received_bytes == sum(len(a) for a in mock.received_audio) <= 4 * 64_000


async def test_a_mock_session_inbox_is_bounded_and_pushes_back() -> None:
    from beluga_voice.providers.mock import INBOX_LIMIT

    mock = AdvancedMockS2SProvider()
    async with mock.stream() as session, anyio.create_task_group() as tg:
        sent = 0

        async def flood() -> None:
            nonlocal sent
            for _ in range(INBOX_LIMIT + 10):
                await session.send_audio(bytes(640))
                sent += 1

        tg.start_soon(flood)
        await anyio.wait_all_tasks_blocked()
        assert sent == INBOX_LIMIT  # the sender waits; nothing was dropped
        tg.cancel_scope.cancel()


async def test_a_mock_session_inbox_is_bounded_in_bytes_too() -> None:
    """Large chunks fill the inbox long before its count limit: the bound is on memory."""
    from beluga_voice.providers.mock import INBOX_LIMIT_BYTES

    mock = AdvancedMockS2SProvider(record_limit_bytes=0)
    big = bytes(1 << 20)  # 1 MiB per message (32 s at 16 kHz)
    fits = INBOX_LIMIT_BYTES // len(big)
    with anyio.fail_after(30):
        async with mock.stream() as session, anyio.create_task_group() as tg:
            sent = 0
            done = anyio.Event()

            async def flood() -> None:
                nonlocal sent
                for _ in range(fits + 4):
                    await session.send_audio(big)
                    sent += 1
                done.set()

            async def read() -> None:
                async for _ in session:
                    pass

            tg.start_soon(flood)
            await anyio.wait_all_tasks_blocked()
            assert sent == fits  # then the sender waits, far below the count limit
            tg.start_soon(read)  # the session reads: the sender goes on, nothing lost
            await done.wait()
            assert sent == fits + 4
            tg.cancel_scope.cancel()


async def test_mock_text_records_are_bounded_per_session() -> None:
    mock = AdvancedMockS2SProvider(record_limit_items=10)
    async with mock.stream() as session:
        for n in range(50):
            await session.send_text(f"question {n}")
            await session.speak(f"answer {n}")
            await session.interrupt(float(n))
            await session.send_tool_result(f"call_{n}", "ok")
    last = range(40, 50)
    assert mock.received_text == [f"question {n}" for n in last]
    assert mock.spoken_text == [f"answer {n}" for n in last]
    assert mock.interrupts == [float(n) for n in last]
    assert mock.tool_results == [(f"call_{n}", "ok") for n in last]


async def test_a_closed_mock_session_keeps_its_records_and_nothing_else() -> None:
    """Queued commands and the rest of a reply go with the session; only records stay.
    (Before, each kept session held every queued chunk and a copy of its whole reply.)"""
    import gc
    import tracemalloc

    reply = tone(60.0, 24000)  # 2.9 MB of reply, cut into per-session chunks
    mock = AdvancedMockS2SProvider(
        audio_outputs=[reply], keep_sessions=20, record_limit_bytes=32_000
    )
    chunk = bytes(3200)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(20):
            async with mock.stream() as session:
                await session.send_text("tell me a long story")
                async for event in session:  # the reply has started: then hang up
                    if isinstance(event, AudioChunk):
                        break
                for _ in range(300):  # 1 MB of audio nobody will read
                    await session.send_audio(chunk)
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(mock.sessions) == 20
    assert mock.received_bytes == 20 * 32_000  # the records are there...
    assert retained < 4_000_000, retained  # ...and little else (before: about 60 MB)


def test_serve_mock_keeps_a_few_sessions_of_records() -> None:
    mock = new_provider("mock", wrap=False)
    assert isinstance(mock, AdvancedMockS2SProvider)
    assert mock.sessions.maxlen == 4 and mock.record_limit_bytes == 1 << 20
