"""The HTTP/2 shell under hostile or broken peers: clear errors, never a hang."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable

import anyio
import anyio.abc
import pytest
import trustme
from anyio.streams.tls import TLSListener
from nova_support import SILENCE, nova, until

from beluga_voice.providers.amazon_nova import AmazonNovaSonicProvider, NovaSettings
from beluga_voice.providers.errors import ErrorCode, S2SError
from beluga_voice.providers.events import SessionClosed, SessionError
from beluga_voice.testing.fake_bedrock import FakeBedrock

pytestmark = pytest.mark.anyio

Handler = Callable[[anyio.abc.ByteStream], Awaitable[None]]


async def open_against(handler: Handler, *, tls_alpn: list[str] | None = None) -> S2SError:
    """Run a raw server with ``handler``; return the error opening a session against it."""
    listener: anyio.abc.Listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    client_ctx = None
    if tls_alpn is not None:
        ca = trustme.CA()
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
        server_ctx.set_alpn_protocols(tls_alpn)
        listener = TLSListener(listener, server_ctx, standard_compatible=False)
        client_ctx = ssl.create_default_context()
        ca.configure_trust(client_ctx)
    scheme = "https" if tls_alpn is not None else "http"
    provider = AmazonNovaSonicProvider(
        settings=NovaSettings(
            endpoint_url=f"{scheme}://127.0.0.1:{port}",
            aws_access_key_id="AKIATRANSPORTTEST000",
            aws_secret_access_key="transport-test-secret",
            connect_timeout=0.5,
        ),
        ssl_context=client_ctx,
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handler)
        with anyio.fail_after(5), pytest.raises(S2SError) as info:
            await provider.start_streaming()
        tg.cancel_scope.cancel()
    return info.value


async def test_a_peer_that_is_not_http2_is_a_clear_error() -> None:
    async def garbage(sock: anyio.abc.ByteStream) -> None:
        await sock.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await sock.aclose()

    error = await open_against(garbage)
    assert error.code in (ErrorCode.STREAM_ERROR, ErrorCode.NETWORK_ERROR)
    assert error.is_retryable


async def test_a_silent_peer_times_out() -> None:
    async def silent(sock: anyio.abc.ByteStream) -> None:
        await anyio.sleep_forever()

    error = await open_against(silent)
    assert error.code is ErrorCode.TIMEOUT


async def test_tls_without_h2_alpn_is_refused() -> None:
    async def http1_only(sock: anyio.abc.ByteStream) -> None:
        await anyio.sleep_forever()

    error = await open_against(http1_only, tls_alpn=["http/1.1"])
    assert error.code is ErrorCode.NETWORK_ERROR
    assert "ALPN" in str(error)


async def test_connection_lost_mid_session_is_a_retryable_error() -> None:
    async with FakeBedrock() as fake:
        session = await nova(fake).start_streaming()
        await session.send_audio(SILENCE)
    # The fake is gone: its sockets are closed under the session.
    events = await until(session, SessionClosed)
    [error] = [e for e in events if isinstance(e, SessionError)]
    assert error.fatal and error.error.is_retryable
    assert error.error.code in (ErrorCode.NETWORK_ERROR, ErrorCode.STREAM_CLOSED)
    with anyio.fail_after(3):
        await session.close()
