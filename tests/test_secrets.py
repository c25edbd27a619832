"""Secrets never reach a log line, and redaction hides secrets, not words."""

from __future__ import annotations

import re
import subprocess
import sys

import anyio
import pytest
from typer.testing import CliRunner

from beluga_voice.cli import app
from beluga_voice.secrets import redact, register_secret
from beluga_voice.transports.websocket import ServerConfig, WebSocketClient


def test_redaction_keeps_the_words_around_a_key_name() -> None:
    message = "api_key: openai_realtime needs an API key (config.api_key or OPENAI_API_KEY)"
    assert redact(message) == message
    assert redact("api_key: abcd1234efgh5678") == "api_key: ***"
    assert (
        redact("GET /?access_token=anything-at-all HTTP/1.1") == "GET /?access_token=*** HTTP/1.1"
    )


def test_a_short_registered_secret_is_hidden_where_it_stands_alone_only() -> None:
    register_secret("q7z")
    assert redact("token q7z sent") == "token *** sent"
    assert redact("q7zebra and aq7z stay") == "q7zebra and aq7z stay"


@pytest.mark.parametrize("token", ["", " ", "x", "fifteen-chars!!"])
def test_a_public_server_refuses_a_short_token(token: str) -> None:
    with pytest.raises(ValueError, match="at least 16 characters"):
        ServerConfig(host="0.0.0.0", token=token)
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--token", token])
    assert result.exit_code == 1
    assert "--token or BELUGA_TOKEN" in result.stderr


def test_a_public_server_takes_a_long_token() -> None:
    assert ServerConfig(host="0.0.0.0", token="sixteen-chars-ok").token is not None


@pytest.mark.anyio
async def test_serve_verbose_never_logs_the_token() -> None:
    token = "s3cret-serve-token-0123456789"
    process = await anyio.open_process(
        [sys.executable, "-m", "beluga_voice.cli", "serve", "--port", "0", "-v", "-p", "mock",
         "--token", token],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None and process.stderr is not None
        banner = b""
        with anyio.fail_after(30):
            while b"\n" not in banner:
                banner += await process.stdout.receive()
        url = re.search(r"(ws://127\.0\.0\.1:\d+/)", banner.decode())
        assert url, banner
        with anyio.fail_after(10):  # the way browsers send it: in the URL
            async with WebSocketClient.connect(f"{url.group(1)}?access_token={token}") as client:
                await client.end()
                async for _ in client:
                    pass
    finally:
        process.terminate()
        with anyio.fail_after(10):
            await process.wait()
    assert process.stderr is not None
    logged = b""
    with anyio.move_on_after(5):
        async for data in process.stderr:
            logged += data
    assert b"GET /?access_token=***" in logged, logged[-2000:]
    assert token.encode() not in logged
