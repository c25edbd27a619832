"""Every TLS context beluga builds requires TLS 1.2+ and verifies the peer.

The contexts come from :mod:`beluga_voice.tls` only (checked by reading the package), and
they are tried on real sockets against servers with certificates from a throwaway CA
(trustme): an unknown CA, a wrong host name and a TLS 1.1-only server are all refused.
"""

from __future__ import annotations

import contextlib
import re
import ssl
from pathlib import Path

import pytest
import trustme
from websockets.asyncio.server import ServerConnection, serve

import beluga_voice
from beluga_voice.providers.config import S2SConfig
from beluga_voice.providers.errors import ErrorCode, S2SError
from beluga_voice.providers.websocket import open_websocket, redacting_logger
from beluga_voice.tls import client_context, server_context

pytestmark = pytest.mark.anyio

PACKAGE = Path(beluga_voice.__file__).parent


def test_no_module_builds_a_context_of_its_own() -> None:
    pattern = re.compile(r"create_default_context\(|SSLContext\(|wrap_socket\(")
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "tls.py" and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


@pytest.fixture
def ca(tmp_path: Path) -> trustme.CA:
    return trustme.CA()


def test_every_builder_is_strict(ca: trustme.CA, tmp_path: Path) -> None:
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    for ctx in (client_context(), client_context(cafile=str(pem))):
        assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
        assert ctx.verify_mode is ssl.CERT_REQUIRED and ctx.check_hostname
    assert server_context().minimum_version >= ssl.TLSVersion.TLSv1_2


def test_providers_use_the_strict_contexts(ca: trustme.CA, tmp_path: Path) -> None:
    from beluga_voice.providers.amazon_nova.provider import AmazonNovaSonicProvider
    from beluga_voice.providers.amazon_nova.settings import NovaSettings

    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    settings = NovaSettings(
        endpoint_url="https://127.0.0.1:1",
        ca_bundle=str(pem),
        aws_access_key_id="AKIAXXXXXXXXXXXXXXXX",
        aws_secret_access_key="not-a-real-secret-key",
    )
    provider = AmazonNovaSonicProvider(S2SConfig(provider="amazon_nova"), settings)
    ctx = provider._ssl_context
    assert ctx is not None and ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode is ssl.CERT_REQUIRED


async def _echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def _connect(port: int, ctx: ssl.SSLContext | None, host: str = "localhost") -> None:
    ws = await open_websocket(
        f"wss://{host}:{port}/",
        {},
        timeout=3,
        provider="test",
        logger=redacting_logger("tests.tls"),
        ssl_context=ctx,
    )
    await ws.send("ping")
    assert await ws.recv() == "ping"
    await ws.close()


def _server_ctx(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    ctx = server_context()
    ca.issue_cert(*names).configure_cert(ctx)
    return ctx


async def test_a_trusted_server_is_reached_and_others_are_refused(
    ca: trustme.CA, tmp_path: Path
) -> None:
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    async with serve(_echo, "127.0.0.1", 0, ssl=_server_ctx(ca, "localhost")) as server:
        port = server.sockets[0].getsockname()[1]
        await _connect(port, client_context(cafile=str(pem)))  # our CA: fine
        with pytest.raises(S2SError) as unknown:
            await _connect(port, None)  # the default: system CAs only
        assert unknown.value.code is ErrorCode.NETWORK_ERROR
        assert "certificate" in unknown.value.message.lower()
        with pytest.raises(S2SError) as wrong_name:
            await _connect(port, client_context(cafile=str(pem)), host="127.0.0.1")
        assert "certificate" in wrong_name.value.message.lower()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
async def test_a_server_offering_only_tls_1_1_is_refused(ca: trustme.CA, tmp_path: Path) -> None:
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    old = _server_ctx(ca, "localhost")
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    # An OpenSSL without the old ciphers refuses even sooner.
    with contextlib.suppress(ssl.SSLError):
        old.set_ciphers("ALL:@SECLEVEL=0")
    async with serve(_echo, "127.0.0.1", 0, ssl=old) as server:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(S2SError) as info:
            await _connect(port, client_context(cafile=str(pem)))
    assert info.value.code is ErrorCode.NETWORK_ERROR
