"""SigV4 of the request and of each event, checked against independent verifiers."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import struct

import pytest
from botocore.credentials import ReadOnlyCredentials
from botocore.eventstream import EventStreamBuffer

from beluga_voice.providers.amazon_nova.eventstream import encode_message
from beluga_voice.providers.amazon_nova.signing import (
    EVENTS_PAYLOAD_HASH,
    ChunkSigner,
    CredentialProvider,
    sign_request,
)
from beluga_voice.providers.errors import ErrorCode, S2SError
from beluga_voice.secrets import redact
from beluga_voice.testing.fake_bedrock.wire import (
    ChunkVerifier,
    FakeCredentials,
    FrameError,
    verify_request,
)

pytestmark = pytest.mark.anyio

FAKE = FakeCredentials()
CREDS = ReadOnlyCredentials(FAKE.access_key, FAKE.secret_key, None)
URL = "https://bedrock-runtime.us-east-1.amazonaws.com/model/amazon.nova-2-sonic-v1%3A0/invoke-with-bidirectional-stream"
PATH = URL.split(".com", 1)[1]
HOST = "bedrock-runtime.us-east-1.amazonaws.com"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def test_request_signature_verifies_independently() -> None:
    signed = sign_request(CREDS, "us-east-1", URL, now=_now())
    headers = dict(signed.headers)
    assert headers["x-amz-content-sha256"] == EVENTS_PAYLOAD_HASH
    assert headers["content-type"] == "application/vnd.amazon.eventstream"
    assert headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={FAKE.access_key}/")
    assert "/us-east-1/bedrock/aws4_request" in headers["authorization"]
    assert verify_request(PATH, HOST, "https", headers, FAKE) == signed.signature


def test_request_signature_detects_tampering_and_wrong_secret() -> None:
    headers = dict(sign_request(CREDS, "us-east-1", URL, now=_now()).headers)
    with pytest.raises(FrameError, match="does not match"):
        verify_request(PATH.replace("nova-2", "nova-3"), HOST, "https", headers, FAKE)
    wrong = ReadOnlyCredentials(FAKE.access_key, "not-the-secret", None)
    headers = dict(sign_request(wrong, "us-east-1", URL, now=_now()).headers)
    with pytest.raises(FrameError, match="does not match"):
        verify_request(PATH, HOST, "https", headers, FAKE)


def test_session_token_is_sent_and_signed() -> None:
    creds = ReadOnlyCredentials(FAKE.access_key, FAKE.secret_key, "the-session-token")
    headers = dict(sign_request(creds, "us-east-1", URL, now=_now()).headers)
    assert headers["x-amz-security-token"] == "the-session-token"
    assert "x-amz-security-token" in headers["authorization"]


def test_request_signature_is_deterministic_for_a_fixed_time() -> None:
    when = dt.datetime(2025, 6, 1, 12, 0, 0, tzinfo=dt.UTC)
    a = sign_request(CREDS, "us-east-1", URL, now=when)
    b = sign_request(CREDS, "us-east-1", URL, now=when)
    assert a.signature == b.signature and len(a.signature) == 64
    assert dict(a.headers)["x-amz-date"] == "20250601T120000Z"


def _hand_signature(previous: str, when: dt.datetime, inner: bytes) -> bytes:
    """The chain step written out from the AWS documentation, with no shared code."""
    ms = int(when.timestamp()) * 1000
    date_header = bytes([5]) + b":date" + bytes([8]) + struct.pack(">q", ms)
    amz = when.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{amz[:8]}/us-east-1/bedrock/aws4_request"
    text = "\n".join(
        [
            "AWS4-HMAC-SHA256-PAYLOAD",
            amz,
            scope,
            previous,
            hashlib.sha256(date_header).hexdigest(),
            hashlib.sha256(inner).hexdigest(),
        ]
    )
    key = ("AWS4" + FAKE.secret_key).encode()
    for part in (amz[:8], "us-east-1", "bedrock", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def test_chunk_signature_chain_matches_the_documented_algorithm() -> None:
    seed = "a" * 64
    signer = ChunkSigner(CREDS, "us-east-1", seed)
    verifier = ChunkVerifier(FAKE, seed)
    previous = seed
    buffer = EventStreamBuffer()
    when = dt.datetime(2025, 6, 1, 23, 59, 59, 700000, tzinfo=dt.UTC)
    for i, inner in enumerate([encode_message({"n": i}, b"x" * i) for i in range(4)] + [b""]):
        frame = signer.sign(inner, now=when + dt.timedelta(seconds=i))
        buffer.add_data(frame)
        [envelope] = list(buffer)
        assert envelope.payload == inner
        expected = _hand_signature(
            previous, (when + dt.timedelta(seconds=i)).replace(microsecond=0), inner
        )
        assert envelope.headers[":chunk-signature"] == expected
        verifier.verify(envelope.headers, envelope.payload)
        previous = expected.hex()
    assert verifier.verified == 5
    assert signer.previous == previous


def test_a_broken_chain_is_detected() -> None:
    signer = ChunkSigner(CREDS, "us-east-1", "b" * 64)
    verifier = ChunkVerifier(FAKE, "b" * 64)
    buffer = EventStreamBuffer()
    buffer.add_data(signer.sign(b"first"))
    buffer.add_data(signer.sign(b"second"))
    first, second = list(buffer)
    with pytest.raises(FrameError, match="chunk signature 1"):
        verifier.verify(second.headers, second.payload)  # out of order
    verifier = ChunkVerifier(FAKE, "b" * 64)
    with pytest.raises(FrameError):
        verifier.verify(first.headers, b"tampered")


async def test_explicit_keys_are_used_and_registered_as_secrets() -> None:
    provider = CredentialProvider(
        access_key_id="AKIAEXPLICIT00000000", secret_access_key="explicit-secret-value-1234"
    )
    creds = await provider.get()
    assert creds.access_key == "AKIAEXPLICIT00000000"
    assert "explicit-secret-value-1234" not in repr(provider)
    assert redact("oops explicit-secret-value-1234") == "oops ***"


def test_half_explicit_keys_are_refused() -> None:
    with pytest.raises(S2SError) as info:
        CredentialProvider(access_key_id="AKIAONLY")
    assert info.value.code is ErrorCode.INVALID_CONFIG


@pytest.fixture
def isolated_aws(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE", raising=False)


async def test_chain_reads_the_environment(
    isolated_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENVIRONMENT0")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-from-environment-xyz")
    creds = await CredentialProvider().get()
    assert (creds.access_key, creds.secret_key) == (
        "AKIAFROMENVIRONMENT0",
        "secret-from-environment-xyz",
    )
    assert "secret-from-environment-xyz" not in redact("x secret-from-environment-xyz")


async def test_chain_reads_a_named_profile(isolated_aws: None, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "credentials").write_text(
        "[voice]\naws_access_key_id = AKIAFROMPROFILE00000\n"
        "aws_secret_access_key = secret-from-profile-abc\n"
    )
    creds = await CredentialProvider(profile="voice").get()
    assert creds.access_key == "AKIAFROMPROFILE00000"


async def test_no_credentials_is_an_authentication_error(isolated_aws: None) -> None:
    with pytest.raises(S2SError) as info:
        await CredentialProvider().get()
    assert info.value.code is ErrorCode.AUTHENTICATION_ERROR


async def test_refreshable_credentials_are_renewed_before_they_expire() -> None:
    from aiobotocore.credentials import AioRefreshableCredentials

    refreshes = 0

    def metadata(n: int, minutes: float) -> dict[str, str]:
        expiry = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
        return {
            "access_key": f"ASIAROTATED0000000{n:02d}",
            "secret_key": f"rotated-secret-{n:02d}-abcdef",
            "token": f"rotated-token-{n:02d}",
            "expiry_time": expiry.isoformat(),
        }

    async def refresh() -> dict[str, str]:
        nonlocal refreshes
        refreshes += 1
        return metadata(refreshes, 60)

    # Expires within botocore's mandatory refresh window: the next snapshot is renewed.
    chain = AioRefreshableCredentials.create_from_metadata(metadata(0, 1), refresh, "test")
    provider = CredentialProvider(credentials=chain)
    creds = await provider.get()
    assert refreshes == 1 and creds.access_key == "ASIAROTATED000000001"
    assert (await provider.get()).access_key == creds.access_key  # still fresh: no refresh
    assert refreshes == 1
    assert redact("rotated-secret-01-abcdef and rotated-token-01") == "*** and ***"
