"""Deepgram live STT against the fake: the protocol, keepalive, reconnect, errors."""

from __future__ import annotations

import json
import logging

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beluga_voice.audio.turns import tone
from beluga_voice.providers.errors import ErrorCode, S2SError
from beluga_voice.stt.base import STTResult
from beluga_voice.stt.deepgram import DeepgramCore, DeepgramSTT
from beluga_voice.stt.wire import WebSocketSTTStream
from beluga_voice.testing.fake_deepgram import SDK_AVAILABLE, FakeDeepgramServer

pytestmark = pytest.mark.anyio

KEY = "dg-test-5ecret-key-0123456789"
SPEECH = tone(1.0, 16000, 300, 0.5)


def _engine(fake: FakeDeepgramServer, **options: object) -> DeepgramSTT:
    return DeepgramSTT(api_key=KEY, base_url=fake.url, **options)  # type: ignore[arg-type]


async def _say(stream: WebSocketSTTStream, pcm: bytes = SPEECH) -> None:
    for i in range(0, len(pcm), 640):
        await stream.send(pcm[i : i + 640])


async def _until_final(stream: WebSocketSTTStream) -> list[STTResult]:
    got: list[STTResult] = []
    with anyio.fail_after(5):
        async for result in stream.results():
            got.append(result)
            if result.final:
                break
    return got


def test_the_fake_validates_against_the_sdk() -> None:
    assert SDK_AVAILABLE, "deepgram-sdk is a test dependency"


async def test_interims_then_the_final_joined_across_finalized_segments() -> None:
    async with (
        FakeDeepgramServer(["hello there general kenobi"], segment_ms=400) as fake,
        _engine(fake, model="nova-3", keyterms=["kenobi"]).connect() as stream,
    ):
        await _say(stream)
        await stream.finalize()
        got = await _until_final(stream)
    assert got[-1] == STTResult("hello there general kenobi", final=True, audio_ms=1000.0)
    interims = [r.text for r in got[:-1]]
    assert interims and all(not r.final for r in got[:-1])
    assert interims[0] == "hello" and "hello there general" in interims
    sent = fake.records.sent
    assert any(m.get("from_finalize") for m in sent)
    assert sum(1 for m in sent if m.get("is_final")) >= 2  # the utterance spanned segments
    assert fake.records.controls == ["Finalize", "CloseStream"]
    assert fake.records.violations == [] and fake.records.server_violations == []
    query = fake.records.queries[0]
    assert query["model"] == ["nova-3"] and query["encoding"] == ["linear16"]
    assert query["sample_rate"] == ["16000"] and query["interim_results"] == ["true"]
    assert query["keyterm"] == ["kenobi"] and query["endpointing"] == ["300"]


async def test_server_endpointing_then_finalize_still_gives_one_final() -> None:
    speech_then_quiet = SPEECH + bytes(2 * 8000)  # the fake's speech_final comes first
    async with (
        FakeDeepgramServer(["turn one", "turn two"]) as fake,
        _engine(fake, vad_events=True).connect() as stream,
    ):
        for _ in range(2):
            await _say(stream, speech_then_quiet)
            await stream.finalize()
            finals = [r for r in await _until_final(stream) if r.final]
            assert len(finals) == 1
        assert stream.core.speech_started == 2  # type: ignore[attr-defined]
    assert [r for r in fake.records.sent if r.get("speech_final")]
    assert fake.records.server_violations == []


async def test_finalize_without_audio_is_an_empty_final_at_once() -> None:
    async with FakeDeepgramServer() as fake, _engine(fake).connect() as stream:
        await stream.finalize()
        assert await _until_final(stream) == [STTResult("", final=True)]
    assert "Finalize" not in fake.records.controls


async def test_reset_drops_the_utterance_and_its_late_results() -> None:
    async with (
        FakeDeepgramServer(["dropped words", "kept words"], segment_ms=300) as fake,
        _engine(fake).connect() as stream,
    ):
        await _say(stream, SPEECH[: 2 * 8000])
        await stream.reset()
        await stream.finalize()  # nothing left: an empty final, the reset's audio is gone
        assert (await _until_final(stream))[-1].text == ""
    # (the fake's first utterance never finalized: its words were never reported final)


async def test_keepalive_holds_an_idle_connection_open() -> None:
    async with (
        FakeDeepgramServer(idle_timeout=0.3) as fake,
        _engine(fake, keepalive_s=0.1).connect(),
    ):
        with anyio.fail_after(5):
            await fake.wait_until(lambda r: r.controls.count("KeepAlive") >= 5)
    assert fake.records.idle_closes == 0 and fake.records.connections == 1


async def test_an_idle_close_without_keepalive_reconnects_quietly() -> None:
    async with (
        FakeDeepgramServer(["after the idle close"], idle_timeout=0.2) as fake,
        _engine(fake, keepalive_s=None).connect() as stream,
    ):
        with anyio.fail_after(5):
            await fake.wait_until(lambda r: r.connections >= 2)
        await _say(stream)
        await stream.finalize()
        got = await _until_final(stream)
    assert fake.records.idle_closes >= 1
    assert got[-1].text == "after the idle close"


async def test_a_drop_mid_utterance_reconnects_and_replays_the_utterance() -> None:
    async with (
        FakeDeepgramServer(["one two three four"], drop_after_ms=[500]) as fake,
        _engine(fake).connect() as stream,
    ):
        await _say(stream)
        await stream.finalize()
        got = await _until_final(stream)
    assert fake.records.connections == 2
    assert got[-1] == STTResult("one two three four", final=True, audio_ms=1000.0)
    # The second connection heard the whole utterance again.
    assert fake.records.audio_bytes >= len(SPEECH) + 2 * 8000


async def test_a_drop_that_cannot_be_healed_fails_the_stream_with_a_retryable_code() -> None:
    async with (
        FakeDeepgramServer(drop_after_ms=[300]) as fake,
        _engine(fake, reconnects=1).connect() as stream,
    ):
        fake.reject_handshakes = [503]
        await _say(stream)
        with pytest.raises(S2SError) as caught, anyio.fail_after(5):
            await _until_final(stream)
    assert caught.value.code is ErrorCode.MODEL_NOT_AVAILABLE
    assert caught.value.is_retryable


async def test_a_wrong_key_is_an_authentication_error_that_names_no_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with FakeDeepgramServer(api_key="the-right-key-123456") as fake:
        engine = _engine(fake)
        with pytest.raises(S2SError) as caught:
            async with engine.connect():
                pass  # pragma: no cover - refused
    assert caught.value.code is ErrorCode.AUTHENTICATION_ERROR
    assert not caught.value.is_retryable
    assert "Invalid credentials." in str(caught.value)  # Deepgram's own err_msg
    assert caught.value.details["request_id"]  # dg-request-id, for Deepgram's support
    for text in (str(caught.value), repr(caught.value), repr(engine), caplog.text):
        assert KEY not in text


def test_a_missing_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEEPGRAM_API_KEY", raising=False)
    with pytest.raises(S2SError) as caught:
        DeepgramSTT()
    assert caught.value.code is ErrorCode.INVALID_CONFIG


# -- the sans-I/O core ---------------------------------------------------------------------------


def _core() -> DeepgramCore:
    return DeepgramCore(KEY, "wss://x/v1/listen", {"sample_rate": 16000})


def _results(start: float, duration: float, text: str, **flags: bool) -> str:
    return json.dumps(
        {
            "type": "Results",
            "start": start,
            "duration": duration,
            "channel": {"alternatives": [{"transcript": text}]},
            **flags,
        }
    )


def test_a_finalized_segment_reaching_the_end_completes_without_from_finalize() -> None:
    core = _core()
    core.audio(bytes(32000))  # 1 s
    assert core.receive(_results(0.0, 0.6, "hello", is_final=True)) == [
        STTResult("hello", final=False, audio_ms=1000.0)
    ]
    messages, now = core.finalize()
    assert now is None and json.loads(messages[0]) == {"type": "Finalize"}
    done = core.receive(_results(0.6, 0.4, "world", is_final=True))
    assert done == [STTResult("hello world", final=True, audio_ms=1000.0)]


def test_an_overdue_final_gives_what_was_heard_or_a_timeout() -> None:
    core = _core()
    core.audio(bytes(32000))
    core.receive(_results(0.0, 0.5, "half heard"))
    core.finalize()
    assert core.expire() == STTResult("half heard", final=True, audio_ms=1000.0)
    core.audio(bytes(3200))
    core.finalize()
    with pytest.raises(S2SError) as caught:
        core.expire()
    assert caught.value.code is ErrorCode.STREAM_TIMEOUT


def test_service_errors_are_stream_errors() -> None:
    with pytest.raises(S2SError) as caught:
        _core().receive(json.dumps({"type": "Error", "variant": "x", "description": "bad"}))
    assert caught.value.code is ErrorCode.STREAM_ERROR
    with pytest.raises(S2SError) as caught:
        _core().receive("not json")
    assert caught.value.code is ErrorCode.MALFORMED_RESPONSE


_JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
_MESSAGES = st.fixed_dictionaries(
    {"type": st.sampled_from(["Results", "Metadata", "UtteranceEnd", "SpeechStarted", "x"])},
    optional={
        "start": _JSON,
        "duration": _JSON,
        "is_final": _JSON,
        "from_finalize": _JSON,
        "channel": _JSON | st.fixed_dictionaries({"alternatives": _JSON}),
    },
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_MESSAGES | _JSON, max_size=6), st.booleans())
def test_any_json_gives_results_or_an_s2s_error_never_a_crash(
    messages: list[object], finalize: bool
) -> None:
    core = _core()
    core.audio(bytes(640))
    if finalize:
        core.finalize()
    for message in messages:
        try:
            results = core.receive(json.dumps(message))
        except S2SError:
            continue
        assert all(isinstance(r, STTResult) and isinstance(r.text, str) for r in results)


def test_utterances_finalized_back_to_back_get_one_final_each_in_order() -> None:
    core = _core()
    core.audio(bytes(16000))  # 0.5 s
    assert core.finalize()[1] is None
    core.audio(bytes(16000))
    assert core.finalize()[1] is None
    assert core.finalize()[1] is None  # a third with no audio of its own: answered in order
    first = core.receive(_results(0.0, 0.5, "first", is_final=True, from_finalize=True))
    assert [r.text for r in first] == ["first"]
    rest = core.receive(_results(0.5, 0.5, "second", is_final=True, from_finalize=True))
    assert [(r.text, r.final) for r in rest] == [("second", True), ("", True)]


def test_the_services_are_listed_with_their_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    from beluga_voice.stt.registry import STT_SERVICES, new_stt

    for name, env in [
        ("deepgram", "DEEPGRAM_API_KEY"),
        ("openai", "OPENAI_API_KEY"),
        ("openai-http", "OPENAI_API_KEY"),
    ]:
        assert STT_SERVICES[name].credentials == (env,)
        monkeypatch.delenv(env, raising=False)
        assert not STT_SERVICES[name].has_credentials()
    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)
    engine = new_stt("deepgram", model="nova-2")
    assert isinstance(engine, DeepgramSTT) and engine.query["model"] == "nova-2"


def test_results_for_the_audio_of_a_reset_utterance_are_dropped() -> None:
    core = _core()
    core.audio(bytes(16000))  # 0.5 s, then the user is cut off
    core.reset()
    assert core.receive(_results(0.0, 0.5, "cut off words")) == []
    assert core.receive(_results(0.0, 0.5, "cut off words", is_final=True)) == []
    core.audio(bytes(16000))
    late = core.receive(_results(0.5, 0.5, "new words", is_final=True))
    assert [r.text for r in late] == ["new words"]
    # Every sent audio is covered by finalized segments: the final is given at once.
    assert core.finalize() == ([], STTResult("new words", final=True, audio_ms=500.0))


async def test_a_refusal_told_only_in_the_dg_error_header_is_still_read() -> None:
    """Deepgram repeats a refused handshake's error in ``dg-error`` (its changelog of
    2022-11-08); a proxy that drops the body leaves only that header."""
    from http import HTTPStatus

    from websockets.asyncio.server import ServerConnection, serve
    from websockets.http11 import Request, Response

    from beluga_voice.wire import open_websocket

    error = {"err_code": "INSUFFICIENT_PERMISSIONS", "err_msg": "Project lacks access."}

    def refuse(connection: ServerConnection, request: Request) -> Response:
        response = connection.respond(HTTPStatus.FORBIDDEN, "")
        response.headers["dg-error"] = json.dumps(error)
        response.headers["dg-request-id"] = "req-123"
        return response

    async def never(ws: ServerConnection) -> None:  # pragma: no cover - refused first
        pass

    async with serve(never, "127.0.0.1", 0, process_request=refuse) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        with pytest.raises(S2SError) as caught:
            await open_websocket(
                f"ws://127.0.0.1:{port}/v1/listen",
                {},
                timeout=5,
                provider="deepgram",
                logger=logging.getLogger("test"),
            )
    assert caught.value.code is ErrorCode.AUTHORIZATION_ERROR  # 403
    assert "Project lacks access." in str(caught.value)
    assert caught.value.details["request_id"] == "req-123"
