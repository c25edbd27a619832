"""SigV4 for Bedrock's bidirectional stream: the request, then every event.

The initial HTTP/2 request is signed by botocore's own :class:`~botocore.auth.SigV4Auth`
(service ``bedrock``) with ``x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-EVENTS``: the
body is not known in advance, so instead of a body hash each event is signed as it is sent,
each signature chained to the previous one and the first to the request's signature.  A
client event on the wire is therefore an *envelope* message whose headers are ``:date`` and
``:chunk-signature`` and whose payload is the encoded inner event message.

Credentials come from the standard AWS chain through aiobotocore (environment, shared
config/credentials profiles, SSO, assume-role, web identity, container and instance
metadata), refreshed by botocore's refreshable credentials whenever a new stream is signed.
Explicit keys may be given instead; they are registered with :func:`register_secret` so that
they can never appear in an error message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import inspect
from dataclasses import dataclass
from typing import Any

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

from ...secrets import register_secret
from ..errors import ErrorCode, S2SError
from .eventstream import encode_headers, encode_message

__all__ = [
    "EVENTS_PAYLOAD_HASH",
    "SERVICE",
    "ChunkSigner",
    "CredentialProvider",
    "SignedRequest",
    "sign_request",
    "signing_key",
]

SERVICE = "bedrock"
EVENTS_PAYLOAD_HASH = "STREAMING-AWS4-HMAC-SHA256-EVENTS"
_PAYLOAD_ALGORITHM = "AWS4-HMAC-SHA256-PAYLOAD"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def signing_key(secret_key: str, date: str, region: str, service: str = SERVICE) -> bytes:
    """The SigV4 key for ``date`` (YYYYMMDD): HMAC chain over date, region, service."""
    key = ("AWS4" + secret_key).encode("utf-8")
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


class _ClockedSigV4(SigV4Auth):
    """botocore's signer with the signing time supplied by the caller (testable, and one
    clock for the request and its first event)."""

    def __init__(self, credentials: Any, region: str, now: dt.datetime) -> None:
        super().__init__(credentials, SERVICE, region)
        self._now = now

    def add_auth(self, request: AWSRequest) -> None:
        request.context["timestamp"] = self._now.strftime(SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)
        canonical = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical)
        signature = self.signature(string_to_sign, request)
        self._inject_signature_to_request(request, signature)
        request.context["signature"] = signature


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What the HTTP/2 layer sends: lower-case headers, and the seed of the event chain."""

    headers: list[tuple[str, str]]
    signature: str


def sign_request(
    credentials: ReadOnlyCredentials,
    region: str,
    url: str,
    *,
    now: dt.datetime | None = None,
) -> SignedRequest:
    """Sign the ``POST`` that opens a bidirectional stream."""
    now = now or _utcnow()
    request = AWSRequest(
        method="POST",
        url=url,
        headers={
            "Content-Type": "application/vnd.amazon.eventstream",
            "X-Amz-Content-SHA256": EVENTS_PAYLOAD_HASH,
        },
    )
    _ClockedSigV4(credentials, region, now).add_auth(request)
    headers = [(name.lower(), str(value)) for name, value in request.headers.items()]
    return SignedRequest(headers=headers, signature=request.context["signature"])


class ChunkSigner:
    """Signs client events in order, each chained to the previous signature.

    String to sign (per event, at the event's own second-precision time)::

        AWS4-HMAC-SHA256-PAYLOAD \\n <amz date> \\n <date>/<region>/bedrock/aws4_request \\n
        <previous signature hex> \\n sha256(encoded :date header) \\n sha256(inner message)
    """

    def __init__(self, credentials: ReadOnlyCredentials, region: str, seed_signature: str) -> None:
        self._secret = credentials.secret_key
        self.region = region
        self.previous = seed_signature
        self._keys: dict[str, bytes] = {}

    def _key(self, date: str) -> bytes:
        key = self._keys.get(date)
        if key is None:
            key = self._keys[date] = signing_key(self._secret, date, self.region)
        return key

    def sign(self, inner: bytes, now: dt.datetime | None = None) -> bytes:
        """Wrap the encoded inner message ``inner`` in a signed envelope (empty ends the stream)."""
        now = (now or _utcnow()).replace(microsecond=0)
        date_header = {":date": now}
        amz_date = now.strftime(SIGV4_TIMESTAMP)
        scope = f"{amz_date[:8]}/{self.region}/{SERVICE}/aws4_request"
        string_to_sign = "\n".join(
            (
                _PAYLOAD_ALGORITHM,
                amz_date,
                scope,
                self.previous,
                hashlib.sha256(encode_headers(date_header)).hexdigest(),
                hashlib.sha256(inner).hexdigest(),
            )
        )
        signature = hmac.new(
            self._key(amz_date[:8]), string_to_sign.encode("utf-8"), hashlib.sha256
        ).digest()
        self.previous = signature.hex()
        return encode_message({":date": now, ":chunk-signature": signature}, inner)


class CredentialProvider:
    """Resolves AWS credentials for each new stream.

    With explicit keys it returns them; otherwise it walks the standard chain once through
    an aiobotocore session and then asks the (possibly refreshable) result for a frozen
    snapshot per stream, which renews temporary credentials shortly before they expire.
    ``credentials`` takes a botocore or aiobotocore credentials object of your own instead
    (e.g. ``await aioboto3.Session(...).get_credentials()``), refreshable ones included.
    ``expected_access_key_id`` makes the chain's answer count only if it is that key.
    """

    def __init__(
        self,
        *,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        profile: str | None = None,
        credentials: Any = None,
        expected_access_key_id: str | None = None,
    ) -> None:
        if (access_key_id is None) != (secret_access_key is None):
            raise S2SError(
                "credentials",
                ErrorCode.INVALID_CONFIG,
                "give both an access key id and a secret access key, or neither",
            )
        for secret in (access_key_id, secret_access_key, session_token):
            register_secret(secret)
        self._static: ReadOnlyCredentials | None = None
        if access_key_id is not None and secret_access_key is not None:
            self._static = ReadOnlyCredentials(access_key_id, secret_access_key, session_token)
        self.profile = profile
        self._chain: Any = credentials
        self.expected_access_key_id = expected_access_key_id
        register_secret(expected_access_key_id)

    @property
    def uses_chain(self) -> bool:
        """True when the keys come from the AWS chain (not given explicitly or as an object)."""
        return self._static is None and self._chain is None

    def __repr__(self) -> str:
        source = "explicit keys" if self._static is not None else f"chain profile={self.profile}"
        return f"<CredentialProvider {source}>"

    async def get(self) -> ReadOnlyCredentials:
        """Current credentials; ``authentication_error`` when the chain finds none."""
        if self._static is not None:
            return self._static
        try:
            if self._chain is None:
                from aiobotocore.session import AioSession

                self._chain = await AioSession(profile=self.profile).get_credentials()
            if self._chain is None:
                raise S2SError(
                    "credentials",
                    ErrorCode.AUTHENTICATION_ERROR,
                    "no AWS credentials found (environment, profile, SSO, role or instance)",
                )
            frozen = self._chain.get_frozen_credentials()
            if inspect.isawaitable(frozen):
                frozen = await frozen
        except S2SError:
            raise
        except Exception as exc:  # botocore raises many types for a broken chain
            raise S2SError(
                "credentials",
                ErrorCode.AUTHENTICATION_ERROR,
                f"AWS credential chain failed: {type(exc).__name__}",
                cause=exc,
            ) from exc
        for secret in frozen:
            register_secret(secret)
        expected = self.expected_access_key_id
        if expected is not None and frozen.access_key != expected:
            raise S2SError(
                "credentials",
                ErrorCode.AUTHENTICATION_ERROR,
                "config.api_key names an access key id, but the AWS credential chain found "
                "another one; put its secret in AWS_SECRET_ACCESS_KEY, or give "
                "ACCESS_KEY_ID:SECRET_ACCESS_KEY as api_key",
            )
        return frozen


# Chain steps that answer from this machine alone (environment, files, a configured
# process).  The instance-metadata and container steps are network calls; they are skipped.
_OFFLINE_STEPS = ("env", "sso", "custom-process", "shared-credentials-file", "config-file")


def find_offline_credentials(profile: str | None = None, timeout: float = 5.0) -> str | None:
    """Why the AWS chain has no credentials on this machine, or None if it has some.

    Lets a command line fail at once, naming what was looked at, instead of retrying a
    connection whose signature can never be made.  Only the offline steps are consulted
    (instance-metadata roles are not probed), within ``timeout`` seconds.
    """
    import concurrent.futures
    import os

    import botocore.credentials
    import botocore.session

    def resolve() -> Any:
        session = botocore.session.Session(profile=profile)
        resolver = botocore.credentials.create_credential_resolver(session)
        resolver.providers = [p for p in resolver.providers if p.METHOD in _OFFLINE_STEPS]
        return resolver.load_credentials()

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        found = pool.submit(resolve).result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        return f"the AWS credential chain did not answer within {timeout:g} s"
    except Exception as exc:  # a broken profile or config file: botocore says which
        return f"the AWS credential chain failed: {exc}"
    finally:
        pool.shutdown(wait=False)
    if found is not None:
        return None
    files = (
        os.environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
        os.environ.get("AWS_CONFIG_FILE", "~/.aws/config"),
    )
    used = profile or os.environ.get("AWS_PROFILE") or "default"
    return (
        "no AWS credentials found: looked at AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
        f"profile {used!r} (AWS_PROFILE) in {files[0]} and {files[1]}; set those "
        "variables, run `aws configure` (or `aws sso login`), or pass keys as the api_key"
    )
