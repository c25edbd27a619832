"""A fake OpenAI-compatible chat-completions server on loopback, for offline tests.

It speaks just enough HTTP/1.1 (one request per connection, ``Connection: close``) to
serve ``POST {prefix}/chat/completions`` with ``stream: true`` as server-sent events, the
way OpenAI, vLLM, llama.cpp and Ollama do.  It is written from the public wire format,
not from the client under test, so it catches a client's own misreadings.

Behaviour is scriptable:

* ``replies``: texts answered in turn (default: ``"You said: <last user message>"``);
* ``tool_call``: ``(name, arguments_json)`` asked for whenever the request offers tools and
  the last message is the user's (any message, with ``repeat_tool_call``); after the client returns a ``tool`` message the server
  answers ``"The tool said: <content>"``;
* ``fail_status``: answer every request with this HTTP status and an OpenAI error body;
* ``stall_after``: stop sending (but keep the connection open) after that many chunks.

Every request is recorded (``requests``: the JSON bodies, ``auth``: the Authorization
headers) so that tests can assert what the client sent.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import anyio
import anyio.abc

__all__ = ["FakeChatServer"]

_MAX_HEADER = 64 * 1024
_MAX_BODY = 4 * 1024 * 1024


def api_error(message: str) -> dict[str, Any]:
    """An error body as OpenAI's API sends it."""
    return {"error": {"message": message, "type": "invalid_request_error", "code": None}}


class LoopbackHTTP:
    """A loopback TCP listener (any free port) serving each connection with
    ``_serve_one``, for the HTTP fakes; subclasses hold ``port``, ``_tg``, ``_listener``."""

    port: int
    _tg: anyio.abc.TaskGroup | None
    _listener: anyio.abc.Listener[anyio.abc.SocketStream] | None
    prefix: str = "/v1"
    """Where the API's paths start (a subclass may make it a field)."""

    @property
    def base_url(self) -> str:
        """What a client takes as its ``base_url``."""
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    async def _serve_one(self, stream: anyio.abc.SocketStream) -> None:
        raise NotImplementedError

    async def _read_post(
        self, stream: anyio.abc.SocketStream, path: str
    ) -> tuple[dict[str, str], bytes] | None:
        """Read one request: the headers and body of a ``POST path``; anything else is
        answered here (400 malformed, 404 another route, in OpenAI's error shape) and
        gives ``None``."""
        try:
            method, got, headers, body = await _read_request(stream)
        except (ValueError, anyio.EndOfStream, anyio.BrokenResourceError):
            await _send_simple(stream, 400, api_error("bad request"))
            return None
        if method != "POST" or got != path:
            await _send_simple(stream, 404, api_error(f"no route {got}"))
            return None
        return headers, body

    async def __aenter__(self) -> Self:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        self._listener = listener
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(listener.serve, self._serve_one)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._tg is not None and self._listener is not None
        self._tg.cancel_scope.cancel()
        await self._tg.__aexit__(None, None, None)
        await self._listener.aclose()


@dataclass
class FakeChatServer(LoopbackHTTP):
    """Use as ``async with FakeChatServer() as server:`` then point a client at
    ``server.base_url``."""

    replies: Sequence[str] = ()
    tool_call: tuple[str, str] | None = None
    repeat_tool_call: bool = False
    api_key: str | None = None
    fail_status: int | None = None
    stall_after: int | None = None
    chunk_words: int = 2
    prefix: str = "/v1"
    requests: list[dict[str, Any]] = field(default_factory=list)
    auth: list[str | None] = field(default_factory=list)
    port: int = 0
    _served: int = 0
    _tg: anyio.abc.TaskGroup | None = None
    _listener: anyio.abc.Listener[anyio.abc.SocketStream] | None = None

    # -- HTTP -----------------------------------------------------------------------------

    async def _serve_one(self, stream: anyio.abc.SocketStream) -> None:
        async with stream:
            request = await self._read_post(stream, f"{self.prefix}/chat/completions")
            if request is None:
                return
            headers, body = request
            self.auth.append(headers.get("authorization"))
            if self.fail_status is not None:
                await _send_simple(
                    stream, self.fail_status, {"error": {"message": "injected", "type": "x"}}
                )
                return
            if self.api_key is not None and headers.get("authorization") != (
                f"Bearer {self.api_key}"
            ):
                await _send_simple(stream, 401, {"error": {"message": "Incorrect API key"}})
                return
            try:
                request = json.loads(body)
                messages = request["messages"]
                if not isinstance(messages, list) or not messages:
                    raise ValueError("messages")
            except (ValueError, KeyError, TypeError):
                await _send_simple(stream, 400, {"error": {"message": "invalid body"}})
                return
            self.requests.append(request)
            await self._stream_reply(stream, request)

    async def _stream_reply(self, stream: anyio.abc.SocketStream, request: dict[str, Any]) -> None:
        await stream.send(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"cache-control: no-cache\r\nconnection: close\r\n\r\n"
        )
        last = request["messages"][-1]
        model = request.get("model", "fake")
        chunks: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
        finish = "stop"
        wants_tool = self.repeat_tool_call or last.get("role") == "user"
        if self.tool_call is not None and request.get("tools") and wants_tool:
            name, arguments = self.tool_call
            head = {"index": 0, "id": f"call_{len(self.requests)}", "type": "function"}
            chunks.append({"tool_calls": [{**head, "function": {"name": name, "arguments": ""}}]})
            half = len(arguments) // 2
            for part in (arguments[:half], arguments[half:]):
                chunks.append({"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
            finish = "tool_calls"
        else:
            words = self._reply_text(last).split(" ")
            step = max(1, self.chunk_words)
            for i in range(0, len(words), step):
                piece = " ".join(words[i : i + step])
                chunks.append({"content": piece if i == 0 else " " + piece})
        for sent, delta in enumerate(chunks):
            if self.stall_after is not None and sent >= self.stall_after:
                await anyio.sleep_forever()
            await _send_event(stream, model, delta, None)
        await _send_event(stream, model, {}, finish)
        await stream.send(b"data: [DONE]\n\n")

    def _reply_text(self, last: dict[str, Any]) -> str:
        if last.get("role") == "tool":
            return f"The tool said: {last.get('content', '')}"
        if self.replies:
            text = self.replies[self._served % len(self.replies)]
            self._served += 1
            return text
        return f"You said: {last.get('content', '')}"


async def _send_event(
    stream: anyio.abc.SocketStream, model: str, delta: dict[str, Any], finish: str | None
) -> None:
    chunk = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    await stream.send(f"data: {json.dumps(chunk)}\n\n".encode())


async def _send_simple(stream: anyio.abc.SocketStream, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    head = (
        f"HTTP/1.1 {status} Fake\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\nconnection: close\r\n\r\n"
    )
    with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
        await stream.send(head.encode() + payload)


async def _read_request(
    stream: anyio.abc.SocketStream,
) -> tuple[str, str, dict[str, str], bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        if len(buf) > _MAX_HEADER:
            raise ValueError("header too large")
        buf += await stream.receive()
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise ValueError("bad request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError("bad header")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    if not 0 <= length <= _MAX_BODY:
        raise ValueError("bad content-length")
    while len(body) < length:
        body += await stream.receive()
    return parts[0], parts[1], headers, body[:length]
