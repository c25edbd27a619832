"""An agent backed by any OpenAI-compatible chat-completions endpoint.

OpenAI, Azure OpenAI, vLLM, llama.cpp's server, Ollama, LM Studio and many hosted
services speak the same ``POST /chat/completions`` with ``stream: true`` (server-sent
events of ``chat.completion.chunk``), so one small client reaches all of them.  Reply text
is yielded as it streams, so speech can start at the first sentence.  Tool calls are
gathered from the stream, answered through a :class:`~beluga_voice.agents.ToolRegistry`
and sent back, for at most ``max_tool_rounds`` rounds.

The API key is a :class:`~pydantic.SecretStr`, registered with the redactor: it is sent
in the ``Authorization`` header and nowhere else, and never appears in a repr or an error.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from pydantic import SecretStr

from ..conversation import ConversationContext
from ..errors import ErrorCode, S2SError, code_from_http_status
from ..secrets import redact, register_secret
from .tools import ToolRegistry

__all__ = ["OpenAICompatAgent"]

_OP = "agent.respond"


class OpenAICompatAgent:
    """See the module docstring.

    ``base_url`` ends before ``/chat/completions`` (``https://api.openai.com/v1``,
    ``http://127.0.0.1:11434/v1``...).  ``transport`` lets tests and embedders supply their
    own httpx transport.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: SecretStr | str | None = None,
        *,
        system_prompt: str | None = None,
        tools: ToolRegistry | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        timeout: float = 30.0,
        max_tool_rounds: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        if max_tool_rounds < 0:
            raise ValueError("max_tool_rounds must be >= 0")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = SecretStr(api_key) if isinstance(api_key, str) else api_key
        if self.api_key is not None:
            register_secret(self.api_key.get_secret_value())
        self.system_prompt = system_prompt
        self.tools = tools
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout = timeout
        self.max_tool_rounds = max_tool_rounds
        self._transport = transport

    def __repr__(self) -> str:
        return f"<OpenAICompatAgent {self.base_url!r} model={self.model!r}>"

    def messages_for(self, text: str, ctx: ConversationContext) -> list[dict[str, Any]]:
        """The request's messages: system prompt, the context's history, then ``text``."""
        messages: list[dict[str, Any]] = []
        if self.system_prompt:
            messages.append({"role": "system", "content": self.system_prompt})
        for turn in ctx.history:
            if turn.role in ("user", "assistant", "system") and turn.text:
                messages.append({"role": turn.role, "content": turn.text})
        messages.append({"role": "user", "content": text})
        return messages

    async def respond(self, text: str, ctx: ConversationContext) -> AsyncIterator[str]:
        messages = self.messages_for(text, ctx)
        headers = {"accept": "text/event-stream"}
        if self.api_key is not None:
            headers["authorization"] = f"Bearer {self.api_key.get_secret_value()}"
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout), transport=self._transport, headers=headers
        ) as client:
            for round_ in range(self.max_tool_rounds + 1):
                calls: dict[int, dict[str, Any]] = {}
                async for piece in self._stream(client, messages, calls, round_):
                    yield piece
                if not calls:
                    return
                ordered = [calls[i] for i in sorted(calls)]
                messages.append({"role": "assistant", "content": None, "tool_calls": ordered})
                for call in ordered:
                    output = await self._run_tool(call)
                    messages.append({"role": "tool", "tool_call_id": call["id"], "content": output})
        raise S2SError(_OP, ErrorCode.INVALID_RESPONSE, "model kept calling tools; gave up")

    async def _run_tool(self, call: dict[str, Any]) -> str:
        fn = call["function"]
        if self.tools is None:
            return json.dumps({"error": "no tools are available"})
        return await self.tools.call(fn["name"], fn["arguments"])

    def _body(self, messages: list[dict[str, Any]], offer_tools: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": messages, "stream": True}
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        if offer_tools and self.tools is not None and len(self.tools):
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.parameters,
                    },
                }
                for t in self.tools
            ]
        return body

    async def _stream(
        self,
        client: httpx.AsyncClient,
        messages: list[dict[str, Any]],
        calls: dict[int, dict[str, Any]],
        round_: int,
    ) -> AsyncIterator[str]:
        body = self._body(messages, offer_tools=round_ < self.max_tool_rounds)
        url = f"{self.base_url}/chat/completions"
        try:
            async with client.stream("POST", url, json=body) as response:
                if response.status_code >= 400:
                    detail = (await response.aread())[:500].decode("utf-8", "replace")
                    raise S2SError(
                        _OP,
                        code_from_http_status(response.status_code),
                        redact(f"HTTP {response.status_code} from {url}: {detail}"),
                        details={"status": response.status_code},
                    )
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue  # comments, event names, keep-alives
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    piece = _apply_chunk(data, calls)
                    if piece:
                        yield piece
        except httpx.TimeoutException as exc:
            raise S2SError(_OP, ErrorCode.TIMEOUT, f"no answer from {url}", cause=exc) from None
        except httpx.TransportError as exc:
            msg = redact(f"cannot reach {url}: {type(exc).__name__}")
            raise S2SError(_OP, ErrorCode.NETWORK_ERROR, msg, cause=exc) from None


def _apply_chunk(data: str, calls: dict[int, dict[str, Any]]) -> str:
    """Fold one SSE chunk into ``calls``; return its reply text (maybe empty)."""
    try:
        chunk = json.loads(data)
    except json.JSONDecodeError:
        raise S2SError(
            _OP, ErrorCode.MALFORMED_RESPONSE, f"stream chunk is not JSON: {data[:80]!r}"
        ) from None
    if not isinstance(chunk, dict):
        raise S2SError(_OP, ErrorCode.MALFORMED_RESPONSE, "stream chunk is not an object")
    if isinstance(chunk.get("error"), dict):
        message = str(chunk["error"].get("message", "error"))
        raise S2SError(_OP, ErrorCode.STREAM_ERROR, redact(message))
    text = []
    choices = chunk.get("choices")
    for choice in choices if isinstance(choices, list) else ():
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if not isinstance(delta, dict):
            continue
        if isinstance(delta.get("content"), str):
            text.append(delta["content"])
        tool_calls = delta.get("tool_calls")
        for tc in tool_calls if isinstance(tool_calls, list) else ():
            if isinstance(tc, dict):
                _fold_tool_call(tc, calls)
    return "".join(text)


def _fold_tool_call(tc: dict[str, Any], calls: dict[int, dict[str, Any]]) -> None:
    """Merge one streamed tool-call fragment into the call at its ``index``."""
    index = tc.get("index", 0)
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 128:
        raise S2SError(_OP, ErrorCode.MALFORMED_RESPONSE, f"bad tool call index {index!r}")
    slot = calls.setdefault(
        index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
    )
    if isinstance(tc.get("id"), str) and tc["id"]:
        slot["id"] = tc["id"]
    fn = tc.get("function")
    if not isinstance(fn, dict):
        return
    for key in ("name", "arguments"):
        if isinstance(fn.get(key), str):
            slot["function"][key] += fn[key]
