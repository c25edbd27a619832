"""The amazon_nova registration, settings validation and credential sources."""

from __future__ import annotations

import pytest
from nova_support import SPEECH, assert_clean_records

from beluga_voice.providers.amazon_nova import AmazonNovaSonicProvider, NovaSettings
from beluga_voice.providers.config import S2SConfig
from beluga_voice.providers.errors import ErrorCode, S2SError
from beluga_voice.providers.registry import bare_provider, get_provider_spec, list_providers
from beluga_voice.providers.types import AudioInput
from beluga_voice.testing.fake_bedrock import FakeBedrock, FakeCredentials

pytestmark = pytest.mark.anyio


def test_registered_without_an_api_key() -> None:
    assert "amazon_nova" in list_providers()
    spec = get_provider_spec("amazon_nova")
    assert not spec.requires_api_key and spec.settings is NovaSettings
    provider = bare_provider("amazon_nova", S2SConfig(provider_specific={"region": "eu-north-1"}))
    assert isinstance(provider, AmazonNovaSonicProvider)
    assert provider.url == (
        "https://bedrock-runtime.eu-north-1.amazonaws.com/model/"
        "amazon.nova-2-sonic-v1%3A0/invoke-with-bidirectional-stream"
    )
    assert provider.capabilities.input_sample_rates == (16000,)
    assert provider.capabilities.text_input


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"model_id": "amazon.titan"}, "model_id"),
        ({"region": "Mars"}, "region"),
        ({"output_sample_rate": 44100}, "output_sample_rate"),
        ({"endpointing_sensitivity": "EXTREME"}, "endpointing_sensitivity"),
        ({"endpoint_url": "ftp://x"}, "endpoint_url"),
        ({"voice": "x"}, "voice"),
    ],
)
def test_bad_settings_name_the_field(settings: dict, field: str) -> None:
    with pytest.raises(S2SError) as info:
        bare_provider("amazon_nova", S2SConfig(provider_specific=settings))
    assert info.value.code is ErrorCode.INVALID_CONFIG
    assert f"provider_specific.{field}" in str(info.value)


def test_secrets_stay_out_of_reprs_and_errors() -> None:
    settings = NovaSettings(
        aws_access_key_id="AKIAREPRTEST00000000", aws_secret_access_key="repr-secret-value-99"
    )
    provider = AmazonNovaSonicProvider(settings=settings)
    for text in (repr(provider), repr(settings), str(settings), repr(provider.credentials)):
        assert "repr-secret-value-99" not in text
    with pytest.raises(S2SError) as info:
        AmazonNovaSonicProvider(S2SConfig(api_key="only-one-part-secret:"))
    assert info.value.code is ErrorCode.INVALID_CONFIG
    assert "only-one-part-secret" not in str(info.value)


async def test_api_key_can_carry_a_key_pair() -> None:
    async with FakeBedrock() as fake:
        c = fake.credentials
        config = S2SConfig(
            provider="amazon_nova",
            api_key=f"{c.access_key}:{c.secret_key}",
            provider_specific={"endpoint_url": fake.url, "output_sample_rate": 8000},
        )
        provider = bare_provider("amazon_nova", config)
        out = await provider.process(AudioInput(SPEECH))
        assert out.format.sample_rate == 8000 and len(out.data) == int(0.4 * 8000) * 2
        assert fake.records[0].prompt_start["audioOutputConfiguration"]["sampleRateHertz"] == 8000
        assert_clean_records(fake)


def test_seed_style_settings_are_accepted() -> None:
    config = S2SConfig(provider_specific={"model": "nova-sonic", "voice_id": "Tiffany"})
    provider = bare_provider("amazon_nova", config)
    assert isinstance(provider, AmazonNovaSonicProvider)
    assert provider.settings.model_id == "amazon.nova-sonic-v1:0"
    assert provider.settings.voice_id == "tiffany"
    assert not provider.capabilities.text_input  # Nova Sonic v1 takes no typed text


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> FakeCredentials:  # type: ignore[no-untyped-def]
    """Only the environment provides credentials: the fake's."""
    creds = FakeCredentials()
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds.secret_key)
    return creds


async def test_api_key_as_a_bare_access_key_id_uses_the_chain(aws_env: FakeCredentials) -> None:
    async with FakeBedrock() as fake:
        specific = {"endpoint_url": fake.url}
        ok = bare_provider(
            "amazon_nova", S2SConfig(api_key=aws_env.access_key, provider_specific=specific)
        )
        out = await ok.process(AudioInput(SPEECH))
        assert out.data
        other = bare_provider(
            "amazon_nova", S2SConfig(api_key="AKIAANOTHERKEY000000", provider_specific=specific)
        )
        with pytest.raises(S2SError) as info:
            await other.start_streaming()
        assert info.value.code is ErrorCode.AUTHENTICATION_ERROR
        assert "AKIAANOTHERKEY000000" not in str(info.value)


async def test_tls_endpoint_trusted_through_ca_bundle(tmp_path) -> None:  # type: ignore[no-untyped-def]
    async with FakeBedrock(tls=True) as fake:
        bundle = tmp_path / "ca.pem"
        bundle.write_bytes(fake.ca_pem())
        c = fake.credentials
        settings = NovaSettings(
            endpoint_url=fake.url,
            ca_bundle=str(bundle),
            aws_access_key_id=c.access_key,
            aws_secret_access_key=c.secret_key,
        )
        out = await AmazonNovaSonicProvider(settings=settings).process(AudioInput(SPEECH))
        assert out.data
        untrusted = AmazonNovaSonicProvider(
            settings=settings.model_copy(update={"ca_bundle": None})
        )
        with pytest.raises(S2SError) as info:
            await untrusted.start_streaming()
        assert info.value.code is ErrorCode.NETWORK_ERROR
        assert_clean_records(fake)
