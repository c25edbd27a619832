"""Config validation, loading, options; error codes and mappings; secrets."""

from __future__ import annotations

import json
import logging
import pickle

import pytest
from pydantic import ValidationError

from beluga_voice.providers import (
    ErrorCode,
    S2SConfig,
    S2SError,
    code_from_http_status,
    code_from_ws_close,
    default_config,
    new_provider,
    redact,
    with_channels,
    with_fallback_providers,
    with_language,
    with_latency_target,
    with_reasoning_mode,
    with_sample_rate,
)

SECRET = "sk-test-0123456789abcdefSECRET"

# (field, bad value, words the error must contain)
INVALID = [
    ("sample_rate", 44100, ["sample_rate", "8000", "16000", "24000", "48000"]),
    ("channels", 3, ["channels", "1", "2"]),
    ("language", "english!", ["language", "BCP 47"]),
    ("latency_target", "fast", ["latency_target", "low", "medium", "high"]),
    ("reasoning_mode", "magic", ["reasoning_mode", "built-in", "external"]),
    ("max_retries", 11, ["max_retries", "10"]),
    ("max_retries", -1, ["max_retries", "0"]),
    ("retry_delay", 0.01, ["retry_delay", "0.1"]),
    ("retry_delay", 31, ["retry_delay", "30"]),
    ("retry_backoff", 0.5, ["retry_backoff", "1"]),
    ("retry_backoff", 6, ["retry_backoff", "5"]),
    ("timeout", 0, ["timeout"]),
    ("max_concurrent_sessions", 0, ["max_concurrent_sessions", "1"]),
    ("max_concurrent_sessions", 1001, ["max_concurrent_sessions", "1000"]),
    ("fallback_providers", ["nope"], ["fallback_providers", "nope", "known", "mock"]),
    ("fallback_providers", ["mock", "mock"], ["fallback_providers", "twice"]),
    ("unknown_field", 1, ["unknown_field"]),
]


@pytest.mark.parametrize(("field", "value", "words"), INVALID)
def test_invalid_values_name_the_field_and_allowed_values(
    field: str, value: object, words: list[str]
) -> None:
    with pytest.raises(ValidationError) as info:
        S2SConfig(**{field: value})
    text = str(info.value)
    for word in words:
        assert word in text


VALID = [
    ("sample_rate", 8000),
    ("sample_rate", 48000),
    ("channels", 2),
    ("language", "pt-BR"),
    ("language", "zh-Hant-TW"),
    ("latency_target", "low"),
    ("reasoning_mode", "external"),
    ("max_retries", 0),
    ("retry_delay", 30),
    ("retry_backoff", 5),
    ("max_concurrent_sessions", 1000),
]


@pytest.mark.parametrize(("field", "value"), VALID)
def test_valid_values_are_accepted(field: str, value: object) -> None:
    assert getattr(S2SConfig(**{field: value}), field) == value


def test_the_primary_cannot_be_its_own_fallback() -> None:
    with pytest.raises(ValidationError, match="primary"):
        S2SConfig(provider="mock", fallback_providers=["mock"])


def test_defaults_match_the_seed() -> None:
    c = default_config()
    assert (c.sample_rate, c.channels, c.language) == (24000, 1, "en-US")
    assert (c.latency_target, c.reasoning_mode) == ("medium", "built-in")
    assert (c.max_retries, c.retry_delay, c.retry_backoff) == (3, 1.0, 2.0)
    assert c.max_concurrent_sessions == 100 and c.enable_tracing and c.enable_metrics
    assert c.latency_budget == 1.0
    assert S2SConfig(latency_target="low").latency_budget == 0.2


def test_from_env_reads_prefixed_variables() -> None:
    env = {
        "BELUGA_PROVIDER": "mock",
        "BELUGA_SAMPLE_RATE": "16000",
        "BELUGA_FALLBACK_PROVIDERS": "",
        "BELUGA_ENABLE_TRACING": "false",
        "BELUGA_PROVIDER_SPECIFIC": json.dumps({"pace": 1.0}),
        "BELUGA_API_KEY": SECRET,
    }
    c = S2SConfig.from_env(env)
    assert (c.provider, c.sample_rate, c.enable_tracing) == ("mock", 16000, False)
    assert c.provider_specific == {"pace": 1.0} and c.secret() == SECRET


def test_from_file_toml_and_json(tmp_path) -> None:  # type: ignore[no-untyped-def]
    toml = tmp_path / "beluga.toml"
    toml.write_text(
        '[s2s]\nprovider = "mock"\nlatency_target = "low"\n[s2s.provider_specific]\npace = 2.0\n'
    )
    c = S2SConfig.from_file(toml)
    assert c.latency_target == "low" and c.provider_specific == {"pace": 2.0}
    js = tmp_path / "beluga.json"
    js.write_text(json.dumps({"provider": "mock", "channels": 2}))
    assert S2SConfig.from_file(js).channels == 2
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"sample_rate": 1}))
    with pytest.raises(ValidationError, match="sample_rate"):
        S2SConfig.from_file(bad)


def test_functional_options_apply_to_new_provider() -> None:
    p = new_provider(
        "mock",
        None,
        with_sample_rate(48000),
        with_channels(2),
        with_language("fr-FR"),
        with_latency_target("low"),
        with_reasoning_mode("external"),
    )
    c = p.config
    assert (c.sample_rate, c.channels, c.language) == (48000, 2, "fr-FR")
    assert (c.latency_target, c.reasoning_mode, c.provider) == ("low", "external", "mock")


def test_bad_option_is_an_invalid_config_error() -> None:
    with pytest.raises(S2SError) as info:
        new_provider("mock", None, with_fallback_providers("mock"))
    assert info.value.code is ErrorCode.INVALID_CONFIG and "primary" in str(info.value)


def test_provider_specific_is_validated_by_the_provider() -> None:
    with pytest.raises(S2SError) as info:
        new_provider("mock", S2SConfig(provider_specific={"colour": "blue"}))
    msg = str(info.value)
    assert info.value.code is ErrorCode.INVALID_CONFIG
    assert "colour" in msg and "allowed" in msg and "reply_text" in msg


def test_api_key_never_printed(caplog: pytest.LogCaptureFixture) -> None:
    c = S2SConfig(api_key=SECRET)
    assert SECRET not in repr(c) and SECRET not in str(c)
    assert SECRET not in c.model_dump_json()
    logging.getLogger("test").warning("config %s %r", c, c)
    assert SECRET not in caplog.text
    with pytest.raises(ValidationError) as info:
        S2SConfig(api_key=SECRET, sample_rate=1)
    assert SECRET not in str(info.value)


def test_error_messages_are_redacted() -> None:
    S2SConfig(api_key=SECRET)  # registers the key as a secret
    err = S2SError("connect", "authentication_error", f"bad key {SECRET} (Bearer abcdefghijkl)")
    assert SECRET not in str(err) and SECRET not in repr(err)
    assert "abcdefghijkl" not in str(err)
    assert "sk-" not in redact("key sk-abcdefghijklmnop0123")
    assert "AKIA" not in redact("id AKIAABCDEFGHIJKLMNOP")
    assert "AIza" not in redact("key=AIzaSyA1234567890abcdefghijklmnop")
    # errors survive pickling (they cross threads and processes) and keep their code
    again = pickle.loads(pickle.dumps(err))
    assert again.code is ErrorCode.AUTHENTICATION_ERROR and SECRET not in str(again)


def test_every_seed_code_exists() -> None:
    seed = [
        "invalid_config",
        "network_error",
        "timeout",
        "rate_limit",
        "quota_exceeded",
        "authentication_error",
        "authorization_error",
        "not_found",
        "internal_error",
        "invalid_input",
        "unsupported_provider",
        "invalid_model",
        "model_not_available",
        "invalid_request",
        "invalid_response",
        "empty_response",
        "malformed_response",
        "stream_error",
        "stream_timeout",
        "stream_closed",
        "context_canceled",
        "context_timeout",
        "invalid_audio_format",
        "invalid_audio_quality",
    ]
    assert {c.value for c in ErrorCode} >= set(seed)


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        ("network_error", True),
        ("rate_limit", True),
        ("stream_closed", True),
        ("internal_error", True),
        ("timeout", True),
        ("authentication_error", False),
        ("invalid_config", False),
        ("quota_exceeded", False),
        ("invalid_audio_format", False),
        ("unsupported_provider", False),
    ],
)
def test_retryable_codes(code: str, retryable: bool) -> None:
    assert S2SError("op", code).is_retryable is retryable


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "invalid_request"),
        (401, "authentication_error"),
        (402, "quota_exceeded"),
        (403, "authorization_error"),
        (404, "not_found"),
        (408, "timeout"),
        (429, "rate_limit"),
        (500, "internal_error"),
        (502, "model_not_available"),
        (503, "model_not_available"),
        (504, "timeout"),
    ],
)
def test_http_status_mapping(status: int, code: str) -> None:
    assert code_from_http_status(status).value == code


@pytest.mark.parametrize(
    ("close", "code"),
    [
        (None, "network_error"),
        (1000, "stream_closed"),
        (1006, "network_error"),
        (1008, "authorization_error"),
        (1009, "invalid_request"),
        (1011, "internal_error"),
        (1013, "model_not_available"),
        (4001, "authentication_error"),
        (4999, "stream_error"),
    ],
)
def test_ws_close_mapping(close: int | None, code: str) -> None:
    assert code_from_ws_close(close).value == code
