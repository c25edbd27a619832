"""``latency_target``, ``language`` and ``channels`` of S2SConfig reach every provider's
wire (issue 16.6 / 16.7), checked in what each fake server received; a user's own
``provider_specific`` value wins over the config; what a provider cannot do is an
``invalid_config`` naming what it supports."""

from __future__ import annotations

from typing import Any

import pytest
from _gemini_helpers import KEY as GEMINI_KEY
from _gemini_helpers import make_provider
from _realtime_helpers import KEY
from nova_support import nova

from beluga_voice.providers.config import S2SConfig
from beluga_voice.providers.errors import ErrorCode, S2SError
from beluga_voice.providers.registry import bare_provider
from beluga_voice.providers.targets import TURN_TIMING
from beluga_voice.testing.fake_bedrock import FakeBedrock
from beluga_voice.testing.fake_gemini import FakeGeminiServer
from beluga_voice.testing.fake_realtime import FakeRealtimeServer

pytestmark = pytest.mark.anyio

TARGETS = ("low", "medium", "high")


def realtime(fake: FakeRealtimeServer, name: str, config: dict[str, Any], **settings: Any) -> Any:
    cfg = S2SConfig(
        provider=name,
        api_key=KEY,
        timeout=10.0,
        provider_specific={"base_url": fake.url, **settings},
        **config,
    )
    return bare_provider(name, cfg)


async def first_session(provider: Any, fake: FakeRealtimeServer) -> dict[str, Any]:
    async with provider.stream():
        pass
    return fake.records.sessions[0]


# -- OpenAI Realtime and Grok --------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
async def test_openai_server_vad_silence_follows_the_latency_target(target: str) -> None:
    async with FakeRealtimeServer("openai") as fake:
        p = realtime(fake, "openai_realtime", {"latency_target": target})
        session = await first_session(p, fake)
    turn = session["audio"]["input"]["turn_detection"]
    assert turn["type"] == "server_vad"
    assert turn["silence_duration_ms"] == TURN_TIMING[target].silence_ms
    assert not fake.records.violations  # the SDK's schema accepts it


async def test_openai_semantic_vad_eagerness_follows_the_latency_target() -> None:
    async with FakeRealtimeServer("openai") as fake:
        p = realtime(fake, "openai_realtime", {"latency_target": "low"}, vad="semantic_vad")
        session = await first_session(p, fake)
    turn = session["audio"]["input"]["turn_detection"]
    assert turn == {**turn, "type": "semantic_vad", "eagerness": "high"}
    assert "silence_duration_ms" not in turn


async def test_openai_explicit_settings_win_over_the_target() -> None:
    async with FakeRealtimeServer("openai") as fake:
        p = realtime(
            fake,
            "openai_realtime",
            {"latency_target": "low", "language": "fr-FR"},
            vad_silence_duration_ms=900,
            transcription_model="gpt-4o-transcribe",
            transcription_language="de",
        )
        session = await first_session(p, fake)
    audio_in = session["audio"]["input"]
    assert audio_in["turn_detection"]["silence_duration_ms"] == 900
    assert audio_in["transcription"] == {"model": "gpt-4o-transcribe", "language": "de"}


async def test_openai_language_reaches_input_transcription() -> None:
    async with FakeRealtimeServer("openai") as fake:
        p = realtime(
            fake,
            "openai_realtime",
            {"language": "pt-BR"},
            transcription_model="gpt-4o-transcribe",
        )
        session = await first_session(p, fake)
    assert session["audio"]["input"]["transcription"] == {
        "model": "gpt-4o-transcribe",
        "language": "pt",
    }
    assert not fake.records.violations


async def test_grok_language_hint_and_silence_come_from_the_config() -> None:
    async with FakeRealtimeServer("grok") as fake:
        p = realtime(fake, "grok", {"language": "es-US", "latency_target": "high"})
        session = await first_session(p, fake)
    assert session["turn_detection"]["silence_duration_ms"] == TURN_TIMING["high"].silence_ms
    assert session["audio"]["input"]["transcription"] == {"language_hint": "es"}
    assert not fake.records.violations


# -- Gemini Live ---------------------------------------------------------------------------


async def gemini_setup(config: dict[str, Any], **settings: Any) -> dict[str, Any]:
    async with FakeGeminiServer(api_key=GEMINI_KEY) as fake:
        async with make_provider(fake, config=config, **settings).stream():
            pass
        (setup,) = [m["setup"] for _, m in fake.received if "setup" in m][:1]
    return setup


@pytest.mark.parametrize("target", TARGETS)
async def test_gemini_activity_detection_follows_the_latency_target(target: str) -> None:
    setup = await gemini_setup({"latency_target": target, "language": "fr-FR"})
    timing = TURN_TIMING[target]
    assert setup["realtimeInputConfig"]["automaticActivityDetection"] == {
        "disabled": False,
        "startOfSpeechSensitivity": f"START_SENSITIVITY_{timing.gemini_start.upper()}",
        "endOfSpeechSensitivity": f"END_SENSITIVITY_{timing.gemini_end.upper()}",
        "silenceDurationMs": timing.silence_ms,
    }
    assert setup["generationConfig"]["speechConfig"]["languageCode"] == "fr-FR"


async def test_gemini_explicit_settings_win_and_manual_detection_takes_no_timing() -> None:
    setup = await gemini_setup(
        {"latency_target": "low", "language": "fr-FR"},
        speech_language="de-DE",
        activity_detection="manual",
    )
    assert setup["realtimeInputConfig"]["automaticActivityDetection"] == {"disabled": True}
    assert setup["generationConfig"]["speechConfig"]["languageCode"] == "de-DE"


# -- Amazon Nova Sonic ---------------------------------------------------------------------


@pytest.mark.parametrize(("target", "sensitivity"), [("low", "HIGH"), ("high", "LOW")])
async def test_nova_endpointing_and_voice_come_from_the_config(
    target: str, sensitivity: str
) -> None:
    config = S2SConfig(provider="amazon_nova", latency_target=target, language="fr-FR")
    async with FakeBedrock() as fake:
        async with nova(fake, config).stream():
            pass
        record = fake.records[0]
    assert record.session_start["turnDetectionConfiguration"] == {
        "endpointingSensitivity": sensitivity
    }
    assert record.prompt_start["audioOutputConfiguration"]["voiceId"] == "florian"


def test_nova_refuses_a_language_it_does_not_speak_naming_those_it_does() -> None:
    config = S2SConfig(provider="amazon_nova", language="ja-JP")
    with pytest.raises(S2SError) as info:
        bare_provider("amazon_nova", config)
    assert info.value.code is ErrorCode.INVALID_CONFIG
    assert "'ja-JP'" in str(info.value) and "en-US" in str(info.value)
    assert "pt-BR" in str(info.value)


def test_nova_refuses_a_voice_that_does_not_speak_the_language() -> None:
    config = S2SConfig(
        provider="amazon_nova", language="fr-FR", provider_specific={"voice_id": "amy"}
    )
    with pytest.raises(S2SError, match="en-GB with voice 'amy'") as info:
        bare_provider("amazon_nova", config)
    assert info.value.code is ErrorCode.INVALID_CONFIG
    # A polyglot voice speaks every language Nova supports.
    polyglot = config.model_copy(update={"provider_specific": {"voice_id": "tiffany"}})
    assert bare_provider("amazon_nova", polyglot).settings.voice_id == "tiffany"  # type: ignore[attr-defined]


# -- local ---------------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_local_endpointing_follows_the_latency_target(target: str) -> None:
    p = bare_provider("local", S2SConfig(latency_target=target))
    assert p.settings.silence_ms == TURN_TIMING[target].local_silence_ms  # type: ignore[attr-defined]
    explicit = S2SConfig(latency_target=target, provider_specific={"silence_ms": 700})
    assert bare_provider("local", explicit).settings.silence_ms == 700  # type: ignore[attr-defined]


def test_local_speaks_english_only() -> None:
    assert bare_provider("local", S2SConfig(language="en-GB")).settings.voice == "en-gb"  # type: ignore[attr-defined]
    with pytest.raises(S2SError) as info:
        bare_provider("local", S2SConfig(language="fr-FR"))
    assert info.value.code is ErrorCode.INVALID_CONFIG
    assert "'fr-FR'" in str(info.value) and "English only" in str(info.value)


# -- channels ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "specific"),
    [
        ("openai_realtime", {}),
        ("grok", {}),
        ("gemini", {}),
        ("amazon_nova", {}),
        ("local", {}),
    ],
)
def test_stereo_is_refused_by_every_mono_service(name: str, specific: dict[str, Any]) -> None:
    config = S2SConfig(provider=name, api_key="k" * 20, channels=2, provider_specific=specific)
    with pytest.raises(S2SError) as info:
        bare_provider(name, config)
    assert info.value.code is ErrorCode.INVALID_CONFIG
    assert f"channels: {name} takes mono audio only" in str(info.value)


def test_local_low_target_uses_the_webrtc_vad_and_explicit_choice_wins() -> None:
    low = bare_provider("local", S2SConfig(latency_target="low"))
    assert (low.settings.vad, low.settings.silence_ms) == ("webrtc", 250)  # type: ignore[attr-defined]
    mine = S2SConfig(latency_target="low", provider_specific={"vad": "energy"})
    assert bare_provider("local", mine).settings.vad == "energy"  # type: ignore[attr-defined]
    assert bare_provider("local", S2SConfig()).settings.vad == "energy"  # type: ignore[attr-defined]


def test_local_without_the_vad_extra_falls_back_loudly_or_refuses(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "webrtcvad" else real(name)
    )
    low = bare_provider("local", S2SConfig(latency_target="low"))
    assert low.settings.vad == "energy"  # type: ignore[attr-defined]
    assert "needs the 'vad' extra" in caplog.text
    with pytest.raises(S2SError, match="beluga-voice\\[vad\\]") as info:
        bare_provider("local", S2SConfig(provider_specific={"vad": "webrtc"}))
    assert info.value.code is ErrorCode.INVALID_CONFIG


async def test_local_low_target_session_runs_on_the_webrtc_vad() -> None:
    from beluga_voice.audio.vad import WebRTCAnalyzer

    provider = bare_provider("local", S2SConfig(latency_target="low"))
    async with provider.stream() as session:
        assert isinstance(session.recognizer.vad.analyzer, WebRTCAnalyzer)  # type: ignore[attr-defined]
