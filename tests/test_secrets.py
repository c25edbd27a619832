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


@pytest.mark.parametrize(
    ("line", "hidden"),
    [
        ("Authorization: Bearer abc+def/ghi==jklmnop", "abc+def/ghi==jklmnop"),  # base64
        ("> Authorization: Bearer abcdefgh12+/xyz==", "+/xyz=="),  # no tail left behind
        ("X-Amz-Security-Token: FwoGZXIvYXdzEJr//////////wEaDM", "FwoGZXIvYXdzEJr"),
        ("wss://host/ws?key=abcdef123456&alt=json", "abcdef123456"),
    ],
)
def test_bearer_and_header_credentials_are_hidden_whole(line: str, hidden: str) -> None:
    assert hidden not in redact(line)
    assert "***" in redact(line)


@pytest.mark.parametrize(
    "prose",
    [
        "the bearer authentication failed",
        "Bearer tokens are sent in a header",  # a short word after the scheme name
        "ServerConfig(api_key=None, token=null)",
        "The token: is missing",
        "monkey=3",
    ],
)
def test_redaction_leaves_prose_and_placeholders_alone(prose: str) -> None:
    assert redact(prose) == prose


def test_a_secret_that_contains_another_is_hidden_whole() -> None:
    secret = "Zq8-nested-secret-value-42"
    for end in range(8, len(secret) + 1):  # every prefix of it is a secret too
        register_secret(secret[:end])
    assert redact(f"sent {secret} once") == "sent *** once"


def test_provider_credentials_in_provider_specific_are_registered_and_masked() -> None:
    from beluga_voice.providers.config import S2SConfig

    key = "wJalrXUtnFEMI-K7MDENG-bPxRfiCY"
    config = S2SConfig(
        provider="amazon_nova",
        provider_specific={
            "aws_secret_access_key": key,
            "aws_session_token": "t0k",
            "max_tokens": 77,
        },
    )
    for text in (repr(config), str(config)):
        assert key not in text and "t0k" not in text
        assert "'max_tokens': 77" in text  # settings that are not secrets stay readable
    assert redact(f"signing with {key}") == "signing with ***"
    assert redact("session t0k expired") == "session *** expired"


def test_a_config_sent_to_a_worker_process_registers_its_secrets_there() -> None:
    """``serve --workers`` spawns processes and pickles the config to them: the secrets
    must be hidden in the worker's logs too, not only in the parent's."""
    import pickle

    from pydantic import SecretStr

    from beluga_voice.providers.config import S2SConfig

    key, aws = "proxy-key-without-a-prefix-1", "aws-secret-0123456789"
    config = S2SConfig(
        provider="amazon_nova",
        api_key=SecretStr(key),
        provider_specific={"aws_secret_access_key": aws},
    )
    child = (
        "import pickle, sys\n"
        "from beluga_voice.secrets import redact\n"
        "pickle.loads(sys.stdin.buffer.read())\n"
        f"print(redact('using {key} and {aws}'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", child], input=pickle.dumps(config), capture_output=True, timeout=60
    )
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().strip() == "using *** and ***"


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
