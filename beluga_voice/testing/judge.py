"""An LLM judge for what exact assertions cannot say ("the reply answers politely").

The judge sends the conversation and one criterion to any OpenAI-compatible
chat-completions endpoint (through :class:`~beluga_voice.agents.OpenAICompatAgent`, so
OpenAI, a local Ollama or vLLM all work) and reads back ``PASS`` or ``FAIL`` with a
reason::

    judge = Judge("http://127.0.0.1:11434/v1", "llama3.2")
    verdict = await judge("the agent gives the sum", caller.turns)
    assert verdict, verdict.reason

A verdict is truthy when it passed.  An answer that starts with neither word counts as a
failure that quotes the answer, never as a pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from ..agents.openai_compat import OpenAICompatAgent
from ..conversation import new_conversation_context
from .caller.turns import Turn

__all__ = ["JUDGE_PROMPT", "Judge", "Verdict", "transcript_of"]

JUDGE_PROMPT = (
    "You grade a conversation between a user and a voice agent against one criterion. "
    "Answer on one line: PASS or FAIL, then a short reason. Judge only the criterion."
)


@dataclass(frozen=True, slots=True)
class Verdict:
    passed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.passed


def transcript_of(turns: Sequence[Turn]) -> str:
    """The conversation as the judge reads it: what the user said, what the agent said."""
    lines: list[str] = []
    for turn in turns:
        if turn.text:
            lines.append(f"User: {turn.text}")
        for reply in turn.replies:
            cut = " [interrupted by the user]" if reply.interrupted else ""
            lines.append(f"Agent: {reply.text}{cut}")
    return "\n".join(lines)


class Judge:
    """See the module docstring.  ``transport`` is passed to the agent's httpx client."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: SecretStr | str | None = None,
        *,
        timeout: float = 30.0,
        transport: Any = None,
    ) -> None:
        self.agent = OpenAICompatAgent(
            base_url,
            model,
            api_key,
            system_prompt=JUDGE_PROMPT,
            temperature=0.0,
            timeout=timeout,
            transport=transport,
        )

    async def __call__(self, criterion: str, conversation: Sequence[Turn] | str) -> Verdict:
        text = conversation if isinstance(conversation, str) else transcript_of(conversation)
        question = f"Conversation:\n{text}\n\nCriterion: {criterion}"
        pieces = [p async for p in self.agent.respond(question, new_conversation_context())]
        answer = "".join(pieces).strip()
        head, _, rest = answer.partition(" ")
        word = head.strip(".:,!").upper()
        if word in ("PASS", "FAIL"):
            return Verdict(word == "PASS", rest.strip(" -:.") or answer)
        return Verdict(False, f"the judge did not answer PASS or FAIL: {answer[:200]!r}")
