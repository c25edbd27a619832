"""Scripted conversations as data: a YAML scenario, run by a caller, checked turn by turn.

``beluga-voice test scenario.yaml`` runs one; :func:`run_scenario` is the same from
Python.  A scenario::

    provider: local            # or  url: ws://127.0.0.1:8765  (a running server)
    clock: virtual             # or real (always real against a server)
    turns:
      - say: what is two plus three
        expect: {mentions: ["5"], first_audio_ms_below: 1500}
      - say: what can you do
        barge_in_after_ms: 400
        expect: {interrupted: true}
      - say: what is twelve times three
        expect: {mentions: ["36"]}

Every step is one of ``say`` (with optional ``audio``: a WAV to speak instead of
synthesising), ``silence_ms`` or ``hang_up``.  Expectations are checked once the whole
conversation is over, since whether a reply was interrupted is only known when the next
line has talked over it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .caller import Caller, CallerError, Turn

__all__ = ["Expect", "Scenario", "Step", "StepResult", "load_scenario", "run_scenario"]


class Expect(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mentions: list[str] = Field(default_factory=list)
    heard: list[str] = Field(default_factory=list)
    """Words the agent must have recognised in the caller's line."""
    first_audio_ms_below: float | None = None
    interrupted: bool | None = None
    replied: bool = True


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")

    say: str | None = None
    audio: str | None = None
    barge_in_after_ms: float | None = None
    silence_ms: float | None = None
    hang_up: bool = False
    expect: Expect = Field(default_factory=Expect)

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        actions = [self.say is not None, self.silence_ms is not None, self.hang_up]
        if sum(actions) != 1:
            raise ValueError("each step is exactly one of: say, silence_ms, hang_up")
        return self


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = ""
    provider: str | None = None
    url: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    """S2SConfig fields for the provider (provider_specific included)."""
    clock: Literal["virtual", "real"] | None = None
    caller: dict[str, Any] = Field(default_factory=dict)
    """Caller options: voice, speech_rate, pause_ms, reply_timeout_ms, tick_ms."""
    turns: list[Step] = Field(min_length=1)


def load_scenario(path: Path | str) -> Scenario:
    """Read and validate a scenario file (YAML, or JSON, which is YAML too)."""
    import yaml

    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return Scenario.model_validate(data)


@dataclass
class StepResult:
    """One step's outcome; ``failures`` is empty when every expectation held."""

    index: int
    action: str
    turn: Turn | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def check(turn: Turn, expect: Expect) -> list[str]:
    """The expectations ``turn`` misses, each as one readable sentence."""
    out: list[str] = []
    reply = turn.reply
    if expect.replied and not turn.replies:
        out.append("no reply" + (" (timed out)" if turn.timed_out else ""))
    missing = [w for w in expect.mentions if not reply.mentions(w)]
    if missing:
        out.append(f"reply {reply.text!r} does not mention {', '.join(missing)}")
    heard = turn.transcript.lower()
    unheard = [w for w in expect.heard if w.lower() not in heard]
    if unheard:
        out.append(f"agent heard {turn.transcript!r}, not {', '.join(unheard)}")
    limit = expect.first_audio_ms_below
    if limit is not None and (reply.first_audio_ms is None or reply.first_audio_ms >= limit):
        out.append(f"first audio after {reply.first_audio_ms} ms, limit {limit:g} ms")
    if expect.interrupted is not None and turn.interrupted != expect.interrupted:
        out.append(f"interrupted is {turn.interrupted}, expected {expect.interrupted}")
    return out


async def run_scenario(
    scenario: Scenario,
    *,
    target: Any = None,
    token: str | None = None,
    base_dir: Path | None = None,
) -> list[StepResult]:
    """Run ``scenario`` against ``target`` (default: its ``url``, else its provider).

    A failure of the conversation itself (the agent errors, the call drops) is recorded
    on the step where it happened; the steps after it are not run.
    """
    if target is None:
        target = scenario.url or _provider(scenario)
    is_url = isinstance(target, str)
    clock = "real" if is_url else (scenario.clock or "virtual")
    results: list[StepResult] = []
    async with Caller(target, clock=clock, token=token, **scenario.caller) as call:
        for index, step in enumerate(scenario.turns, start=1):
            action = _describe(step)
            result = StepResult(index, action)
            results.append(result)
            try:
                if step.say is not None:
                    audio = (base_dir or Path()) / step.audio if step.audio else None
                    result.turn = await call.say(
                        step.say, audio=audio, barge_in_after_ms=step.barge_in_after_ms
                    )
                elif step.silence_ms is not None:
                    await call.silence(step.silence_ms)
                else:
                    await call.hang_up()
            except CallerError as exc:
                result.failures.append(str(exc))
                break
    for result, step in zip(results, scenario.turns, strict=False):
        if result.turn is not None:
            result.failures += check(result.turn, step.expect)
    return results


def _describe(step: Step) -> str:
    if step.say is not None:
        barge = f" (barge in after {step.barge_in_after_ms:g} ms)" if step.barge_in_after_ms else ""
        return f"say {step.say!r}{barge}"
    if step.silence_ms is not None:
        return f"silence {step.silence_ms:g} ms"
    return "hang up"


def _provider(scenario: Scenario) -> Any:
    from ..providers.config import S2SConfig
    from ..providers.registry import new_provider

    name = scenario.provider or scenario.config.get("provider") or "local"
    config = S2SConfig.model_validate({**scenario.config, "provider": name})
    return new_provider(name, config)
