"""The OpenAI-compatible agent against the loopback fake chat server."""

from __future__ import annotations

import json

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from beluga_voice.agents import OpenAICompatAgent, Tool, ToolRegistry
from beluga_voice.agents.openai_compat import _apply_chunk
from beluga_voice.conversation import new_conversation_context
from beluga_voice.providers.errors import ErrorCode, S2SError
from beluga_voice.testing.fake_chat import FakeChatServer

pytestmark = pytest.mark.anyio

KEY = "sk-test-very-secret-1234"


async def _collect(agent: OpenAICompatAgent, text: str, **ctx_kw: object) -> list[str]:
    ctx = new_conversation_context()
    for role, said in ctx_kw.get("history", []):  # type: ignore[attr-defined]
        ctx.add_turn(role, said)
    with anyio.fail_after(5):
        return [piece async for piece in agent.respond(text, ctx)]


async def test_streams_reply_pieces_and_sends_history_and_key() -> None:
    async with FakeChatServer(api_key=KEY, replies=["Paris is the capital of France."]) as srv:
        agent = OpenAICompatAgent(srv.base_url, "small-model", KEY, system_prompt="Be brief.")
        pieces = await _collect(
            agent, "capital of France?", history=[("user", "hi"), ("assistant", "Hello!")]
        )
    assert len(pieces) > 1, "the reply must stream in pieces"
    assert "".join(pieces) == "Paris is the capital of France."
    assert srv.auth == [f"Bearer {KEY}"]
    body = srv.requests[0]
    assert body["model"] == "small-model" and body["stream"] is True
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    assert body["messages"][-1]["content"] == "capital of France?"
    assert "tools" not in body


async def test_tool_call_round_trip() -> None:
    seen: list[dict[str, object]] = []

    def weather(city: str) -> dict[str, object]:
        seen.append({"city": city})
        return {"city": city, "sky": "sunny"}

    tools = ToolRegistry([Tool("weather", "Weather in a city", weather)])
    async with FakeChatServer(tool_call=("weather", json.dumps({"city": "Lisbon"}))) as srv:
        agent = OpenAICompatAgent(srv.base_url, "m", tools=tools)
        reply = "".join(await _collect(agent, "weather in Lisbon?"))
    assert seen == [{"city": "Lisbon"}]
    assert reply == 'The tool said: {"city": "Lisbon", "sky": "sunny"}'
    first, second = srv.requests
    assert first["tools"][0]["function"]["name"] == "weather"
    assistant, tool_msg = second["messages"][-2:]
    assert assistant["tool_calls"][0]["function"]["arguments"] == '{"city": "Lisbon"}'
    assert (
        tool_msg["role"] == "tool" and tool_msg["tool_call_id"] == assistant["tool_calls"][0]["id"]
    )


async def test_tool_loop_is_bounded() -> None:
    tools = ToolRegistry([Tool("t", "t", lambda: "ok")])
    async with FakeChatServer(tool_call=("t", "{}"), repeat_tool_call=True) as srv:
        agent = OpenAICompatAgent(srv.base_url, "m", tools=tools, max_tool_rounds=2)
        reply = "".join(await _collect(agent, "go"))
    # Rounds 1-2 call the tool; the last round offers no tools, so the model must answer.
    assert len(srv.requests) == 3
    assert "tools" not in srv.requests[-1]
    assert reply.startswith("The tool said")


@pytest.mark.parametrize(
    ("status", "code"),
    [(401, ErrorCode.AUTHENTICATION_ERROR), (429, ErrorCode.RATE_LIMIT), (500, None)],
)
async def test_http_errors_become_s2s_errors_without_the_key(status: int, code: object) -> None:
    async with FakeChatServer(fail_status=status) as srv:
        agent = OpenAICompatAgent(srv.base_url, "m", KEY)
        with pytest.raises(S2SError) as info:
            await _collect(agent, "hi")
    assert info.value.details["status"] == status
    if code is not None:
        assert info.value.code == code
    assert KEY not in str(info.value) and KEY not in repr(info.value)
    assert KEY not in repr(agent)


async def test_wrong_key_is_an_authentication_error() -> None:
    async with FakeChatServer(api_key="fake-right-key-7d1c") as srv:
        with pytest.raises(S2SError) as info:
            await _collect(OpenAICompatAgent(srv.base_url, "m", "fake-wrong-key-2b9e"), "hi")
    assert info.value.code == ErrorCode.AUTHENTICATION_ERROR


async def test_unreachable_server_is_a_network_error() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()
    agent = OpenAICompatAgent(f"http://127.0.0.1:{port}/v1", "m", KEY)
    with pytest.raises(S2SError) as info:
        await _collect(agent, "hi")
    assert info.value.code == ErrorCode.NETWORK_ERROR
    assert KEY not in str(info.value)


async def test_stalled_stream_times_out() -> None:
    async with FakeChatServer(stall_after=1) as srv:
        agent = OpenAICompatAgent(srv.base_url, "m", timeout=0.3)
        with pytest.raises(S2SError) as info:
            await _collect(agent, "hi")
    assert info.value.code == ErrorCode.TIMEOUT


def test_rejects_bad_base_url() -> None:
    with pytest.raises(ValueError, match="http"):
        OpenAICompatAgent("ftp://x", "m")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
_chunky = st.fixed_dictionaries(
    {
        "choices": st.lists(
            st.fixed_dictionaries(
                {"delta": st.dictionaries(
                    st.sampled_from(["content", "tool_calls", "role"]), _json, max_size=3
                )}
            ),
            max_size=3,
        )
    }
)  # fmt: skip


@given(st.one_of(st.text(max_size=200), _json.map(json.dumps), _chunky.map(json.dumps)))
def test_stream_chunk_parser_fails_only_with_s2s_errors(data: str) -> None:
    calls: dict[int, dict[str, object]] = {}
    try:
        text = _apply_chunk(data, calls)
    except S2SError as exc:
        assert exc.code in (ErrorCode.MALFORMED_RESPONSE, ErrorCode.STREAM_ERROR)
        return
    assert isinstance(text, str)


@pytest.mark.parametrize(
    "delta",
    [
        {"tool_calls": [{"index": "zero"}]},
        {"tool_calls": [{"index": -1}]},
        {"tool_calls": "not a list"},
        {"tool_calls": [{"index": 0, "function": "nope"}]},
        {"tool_calls": [{"index": 0, "function": {"name": 5, "arguments": None}}]},
        {"content": 12},
    ],
)
def test_odd_tool_call_fragments_are_rejected_or_ignored(delta: dict[str, object]) -> None:
    data = json.dumps({"choices": [{"delta": delta}]})
    try:
        assert _apply_chunk(data, {}) == ""
    except S2SError as exc:
        assert exc.code == ErrorCode.MALFORMED_RESPONSE


@pytest.mark.parametrize("chunk", [{"choices": 5}, {"choices": "abc"}, {"choices": [None, 3]}])
def test_odd_choices_are_ignored(chunk: dict[str, object]) -> None:
    assert _apply_chunk(json.dumps(chunk), {}) == ""
