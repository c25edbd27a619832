"""The pytest plugin, the LLM judge (against the fake chat server) and ``beluga-voice test``."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from beluga_voice.cli import app
from beluga_voice.testing.caller import Reply, Turn
from beluga_voice.testing.fake_chat import FakeChatServer
from beluga_voice.testing.judge import JUDGE_PROMPT, Judge, transcript_of
from beluga_voice.testing.scenario import Scenario, load_scenario

pytest_plugins = ["pytester"]

TURNS = [
    Turn(text="what is two plus three", replies=[Reply(finals=["That is 5."])]),
    Turn(text="tell me a story", replies=[Reply(finals=["Once upon"], interrupted=True)]),
]


@pytest.mark.anyio
async def test_judge_passes_and_fails_through_the_fake_chat_server() -> None:
    replies = ["PASS: the agent gives the sum politely.", "FAIL - no greeting", "Maybe?"]
    async with FakeChatServer(replies=replies, api_key="judge-key-0123456789") as fake:
        judge = Judge(fake.base_url, "judge-model", "judge-key-0123456789")
        passed = await judge("the reply answers the question", TURNS)
        failed = await judge("the agent greets the user", TURNS)
        unclear = await judge("anything", "User: hi")
    assert passed and passed.reason == "the agent gives the sum politely"
    assert not failed and failed.reason == "no greeting"
    assert not unclear and "did not answer PASS or FAIL" in unclear.reason
    request = fake.requests[0]
    assert request["model"] == "judge-model" and request["temperature"] == 0.0
    assert request["messages"][0] == {"role": "system", "content": JUDGE_PROMPT}
    asked = request["messages"][-1]["content"]
    assert "User: what is two plus three\nAgent: That is 5." in asked
    assert "Agent: Once upon [interrupted by the user]" in asked
    assert asked.endswith("Criterion: the reply answers the question")
    assert transcript_of(TURNS) in asked


PLUGIN_TESTS = """
import os
import pytest
from beluga_voice.providers.mock import AdvancedMockS2SProvider
from beluga_voice.testing.speech import tone

def agent():
    return AdvancedMockS2SProvider(audio_outputs=[tone(0.4)], transcripts=["That is 5."])

@pytest.mark.anyio
async def test_caller_fixture(caller):
    async with caller(agent()) as call:
        turn = await call.say("what is two plus three")
    assert turn.reply.mentions("5") and turn.reply.first_audio_ms < 800
    assert call.clock.virtual is (os.environ["EXPECT_CLOCK"] == "virtual")

@pytest.mark.anyio
@pytest.mark.beluga_clock("real")
async def test_marker_picks_the_clock(caller):
    assert caller(agent()).clock.virtual is False

@pytest.mark.anyio
async def test_judge_fixture(caller, judge):
    async with caller(agent()) as call:
        await call.say("what is two plus three")
    verdict = await judge("the agent answers with the sum")
    assert verdict, verdict.reason
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_plugin_use=PLUGIN_TESTS)
    pytester.makefile(".ini", pytest="[pytest]\nanyio_mode = strict\n")
    return pytester.runpytest_subprocess("-p", "no:randomly", "-p", "anyio", *args, timeout=120)


def test_plugin_fixtures_and_clock_option(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BELUGA_JUDGE_URL", raising=False)
    monkeypatch.setenv("EXPECT_CLOCK", "virtual")
    result = _run(pytester, "-k", "not trio")
    result.assert_outcomes(passed=2, skipped=1)  # no judge endpoint: the judge test skips
    monkeypatch.setenv("EXPECT_CLOCK", "real")
    result = _run(pytester, "-k", "caller_fixture and not trio", "--beluga-clock", "real")
    result.assert_outcomes(passed=1)


@pytest.mark.anyio
async def test_plugin_judge_fixture_with_the_fake_chat_server(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPECT_CLOCK", "virtual")
    async with FakeChatServer(replies=["PASS it says 5"]) as fake:
        monkeypatch.setenv("BELUGA_JUDGE_URL", fake.base_url)
        result = await anyio.to_thread.run_sync(
            lambda: _run(pytester, "-k", "judge_fixture and not trio")
        )
        asked = fake.requests[0]["messages"][-1]["content"]
    result.assert_outcomes(passed=1)
    assert "User: what is two plus three\nAgent: That is 5." in asked


SCENARIO = """
name: mock arithmetic
provider: mock
config:
  provider_specific: {reply_text: "That is 5.", reply_seconds: 0.4}
turns:
  - say: what is two plus three
    expect: {mentions: ["5"], first_audio_ms_below: 800}
  - say: tell me a story
    barge_in_after_ms: 200
    expect: {interrupted: true}
  - say: and again
    expect: {mentions: ["%s"]}
  - silence_ms: 300
  - hang_up: true
"""


def test_cli_test_prints_a_table_and_sets_the_exit_status(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(SCENARIO % "5")
    result = CliRunner().invoke(app, ["test", str(good)])
    assert result.exit_code == 0, result.output
    assert "mock arithmetic" in result.output and "5 passed, 0 failed" in result.output
    assert "yes" in result.output  # the barge-in turn was cut

    bad = tmp_path / "bad.yaml"
    bad.write_text(SCENARIO % "6")
    result = CliRunner().invoke(app, ["test", str(bad)])
    assert result.exit_code == 1
    assert "FAIL" in result.output and "mention" in result.output  # (the table wraps)
    assert "4 passed, 1 failed" in result.output


def test_cli_test_rejects_a_bad_scenario_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("turns:\n  - say: hi\n    silence_ms: 10\n")
    result = CliRunner().invoke(app, ["test", str(bad)])
    assert result.exit_code == 1 and "exactly one of" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(app, ["test", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 1 and "scenario not found" in result.output


def test_scenario_files_are_yaml_or_json(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"provider": "local", "turns": [{"say": "hello"}]}))
    scenario = load_scenario(path)
    assert isinstance(scenario, Scenario) and scenario.turns[0].say == "hello"
    example = Path(__file__).resolve().parent.parent / "examples" / "offline_agent.yaml"
    assert load_scenario(example).turns[1].barge_in_after_ms == 400
