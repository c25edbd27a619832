"""Gemini Live: refused credentials and refused setups reach the app at once, with the
service's own words; model features are checked at configuration time.

The fake answers as Google documents: a missing or wrong API key is a 403 at the
handshake (Developer API), a bad Vertex token a 401; an unknown model or a feature the
model lacks closes the socket right after the setup.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest
from _gemini_helpers import KEY, make_provider

from beluga_voice.providers.config import S2SConfig
from beluga_voice.providers.errors import ErrorCode, S2SError
from beluga_voice.providers.gemini_live import GeminiSettings, build_setup
from beluga_voice.providers.registry import new_provider
from beluga_voice.testing.fake_gemini import FakeGeminiServer, Faults

pytestmark = pytest.mark.anyio


async def refused(server: FakeGeminiServer, **settings: Any) -> tuple[S2SError, float]:
    """The error of opening a session, and how long it took to arrive."""
    start = time.monotonic()
    with anyio.fail_after(2), pytest.raises(S2SError) as info:
        await make_provider(server, stall_timeout_s=10, **settings).start_streaming()
    return info.value, time.monotonic() - start


# -- credentials --------------------------------------------------------------------------


async def test_a_wrong_api_key_is_an_authentication_error_that_names_the_variables() -> None:
    async with FakeGeminiServer(api_key="the-right-key") as server:
        error, _ = await refused(server)
    assert error.code is ErrorCode.AUTHENTICATION_ERROR  # the service said 403
    assert error.details["status"] == 403
    assert "GEMINI_API_KEY / GOOGLE_API_KEY" in error.message
    assert "API key not valid" in error.message  # the service's own message, kept
    assert KEY not in str(error) and KEY not in repr(error)
    assert server.setups == []  # refused at the handshake


async def test_a_bad_vertex_token_points_at_the_vertex_credentials() -> None:
    async with FakeGeminiServer(api_key="good-token") as server:
        error, _ = await refused(server, vertexai=True, project="p", location="us-central1")
    assert error.code is ErrorCode.AUTHENTICATION_ERROR
    assert "application default credentials" in error.message
    assert "invalid authentication credentials" in error.message


def test_a_403_about_permissions_stays_an_authorization_error() -> None:
    from beluga_voice.providers.gemini_live.connection import credential_error

    body = (
        '{"error": {"code": 403, "message": "Permission \'aiplatform.endpoints.predict\' denied"}}'
    )
    raw = S2SError(
        "connect", ErrorCode.AUTHORIZATION_ERROR, "x", details={"status": 403, "body": body}
    )
    error = credential_error(raw, vertexai=True)
    assert error is not None and error.code is ErrorCode.AUTHORIZATION_ERROR
    assert "aiplatform.endpoints.predict" in error.message
    assert (
        credential_error(S2SError("connect", "not_found", details={"status": 404}), vertexai=False)
        is None
    )


# -- refused setups -----------------------------------------------------------------------


async def test_a_model_the_service_does_not_serve_is_invalid_model_at_once() -> None:
    async with FakeGeminiServer(api_key=KEY) as server:
        error, took = await refused(server, model="gemini-2.5-flash")
    assert error.code is ErrorCode.INVALID_MODEL and not error.is_retryable
    assert "is not found for API version v1beta" in error.message
    assert took < 1.0  # the close, not a timeout


async def test_a_feature_the_service_refuses_is_a_non_retryable_error_at_once() -> None:
    # A model our table does not know, so only the service can refuse the feature.
    async with FakeGeminiServer(
        api_key=KEY, models={"gemini-9-live": ("no", False, False)}
    ) as server:
        error, took = await refused(server, model="gemini-9-live", proactive_audio=True)
    assert error.code is ErrorCode.INVALID_REQUEST and not error.is_retryable
    assert "Request contains an invalid argument" in error.message
    assert server.setups[0]["proactivity"] == {"proactiveAudio": True}
    assert took < 1.0


async def test_an_unimplemented_setup_is_invalid_config() -> None:
    faults = Faults(
        close_on_setup=(1008, "Operation is not implemented, or supported, or enabled.")
    )
    async with FakeGeminiServer(api_key=KEY, faults=faults) as server:
        error, took = await refused(server)
    assert error.code is ErrorCode.INVALID_CONFIG and not error.is_retryable
    assert "not implemented" in error.message and took < 1.0


# -- models and their features ------------------------------------------------------------


def test_defaults_name_current_models() -> None:
    assert build_setup(GeminiSettings())["setup"]["model"] == "models/gemini-3.8-live"
    vertex = GeminiSettings(vertexai=True, project="p", location="us-central1")
    assert vertex.wire_model == (
        "projects/p/locations/us-central1/publishers/google/models/gemini-live-2.5-flash-native-audio"
    )


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"model": "gemini-3.8-live", "affective_dialog": True}, "affective_dialog"),
        ({"model": "gemini-3.8-live", "proactive_audio": False}, "always on"),
        ({"model": "gemini-3.1-flash-live-preview", "proactive_audio": True}, "not offered"),
        (
            {
                "model": "gemini-3.1-flash-live-preview",
                "tools": [{"name": "f", "behavior": "NON_BLOCKING"}],
            },
            "synchronously",
        ),
        (
            {"model": "gemini-2.5-flash-native-audio-preview-12-2025", "affective_dialog": True},
            "v1alpha",
        ),
        ({"model": "gemini-2.0-flash-live-001"}, "shut down"),
    ],
)
def test_features_a_model_lacks_are_invalid_config(settings: dict[str, Any], words: str) -> None:
    with pytest.raises(S2SError) as info:
        new_provider("gemini", S2SConfig(api_key=KEY, provider_specific=settings))
    assert info.value.code is ErrorCode.INVALID_CONFIG
    assert words in info.value.message


async def test_features_a_model_has_are_sent_and_accepted() -> None:
    async with FakeGeminiServer(api_key=KEY) as server:
        provider = make_provider(
            server,
            model="gemini-2.5-flash-native-audio-preview-12-2025",
            api_version="v1alpha",
            affective_dialog=True,
            proactive_audio=True,
            tools=[{"name": "lookup", "behavior": "NON_BLOCKING"}],
        )
        async with provider.stream():
            pass
    [setup] = server.setups
    assert setup["generationConfig"]["enableAffectiveDialog"] is True
    assert setup["proactivity"] == {"proactiveAudio": True}
    assert setup["tools"][0]["functionDeclarations"][0]["behavior"] == "NON_BLOCKING"
    assert server.violations == []  # the SDK's schema knows every field
