"""The realtime core's reply lifecycle: one state, one transition table, checked per move.

The table in ``openai_realtime/reply.py`` is tested row by row (every allowed move lands
where the table says, every other move raises), then through the core (each move is made
by the wire event that means it and produces the wire output it must), then with a
hypothesis state machine that drives the core with arbitrary sequences of client calls
and server events and checks the rules the service enforces: one response at a time, no
cancel without a running response, no cancel lost for a reply interrupted early.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from beluga_voice.providers.events import Interrupted, ResponseStarted
from beluga_voice.providers.openai_realtime import OPENAI, OpenAIRealtimeSettings, RealtimeProtocol
from beluga_voice.providers.openai_realtime.reply import (
    TRANSITIONS,
    ImpossibleTransition,
    Reply,
    ReplyState,
    ReplyStep,
)

S, E = ReplyState, ReplyStep

ALLOWED = [(state, step, new) for state, row in TRANSITIONS.items() for step, new in row.items()]
FORBIDDEN = [(state, step) for state in S for step in E if step not in TRANSITIONS[state]]


@pytest.mark.parametrize(("state", "step", "new"), ALLOWED, ids=lambda v: v.name)
def test_every_allowed_move_lands_where_the_table_says(
    state: ReplyState, step: ReplyStep, new: ReplyState
) -> None:
    reply = Reply(state=state, response_id="r1" if state in (S.ACTIVE, S.CANCELLING) else None)
    assert reply.move(step) is new
    assert reply.state is new
    if new not in (S.ACTIVE, S.CANCELLING):
        assert reply.response_id is None  # only a running reply has a server id


@pytest.mark.parametrize(("state", "step"), FORBIDDEN, ids=lambda v: v.name)
def test_every_other_move_is_an_explicit_error(state: ReplyState, step: ReplyStep) -> None:
    reply = Reply(state=state)
    with pytest.raises(
        ImpossibleTransition, match=f"{step.name} is impossible in state {state.name}"
    ):
        reply.move(step)
    assert reply.state is state  # a refused move changes nothing


def test_server_moves_are_accepted_from_every_state() -> None:
    """The core follows the service: a reply it starts itself, a done it never announced."""
    for state in S:
        for step in (E.CREATED, E.DONE, E.RESET):
            assert step in TRANSITIONS[state], (state, step)


def test_the_forbidden_list_is_not_empty() -> None:
    assert (S.ACTIVE, E.REQUEST) in FORBIDDEN  # two responses at once
    assert (S.IDLE, E.CANCEL) in FORBIDDEN  # a cancel the service would refuse
    assert (S.CANCELLING, E.CANCEL) in FORBIDDEN  # cancelled twice


# -- each move through the core, made by the wire event that means it ----------------------


def core(**settings: Any) -> RealtimeProtocol:
    p = RealtimeProtocol(OPENAI, OpenAIRealtimeSettings(**settings), [])
    p.open()
    p.receive(srv("session.updated", session={}))
    p.take_outbound()
    return p


def srv(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, "event_id": "e", **fields})


def created(rid: str = "r1") -> str:
    return srv("response.created", response={"id": rid, "status": "in_progress"})


def done(rid: str = "r1", status: str = "completed") -> str:
    return srv("response.done", response={"id": rid, "status": status, "output": []})


def types(p: RealtimeProtocol) -> list[str]:
    return [m["type"] for m in p.take_outbound() if isinstance(m, dict)]


def at(state: ReplyState) -> RealtimeProtocol:
    """A core whose reply is in ``state``, reached by real wire events."""
    p = core()
    if state is S.IDLE:
        return p
    p.text("hi")
    if state is S.CANCEL_ON_CREATE:
        p.interrupt(None)
    elif state in (S.ACTIVE, S.CANCELLING):
        p.receive(created())
        if state is S.CANCELLING:
            p.interrupt(None)
    p.take_outbound()
    assert p.reply.state is state
    return p


def test_request_from_idle_sends_one_response_create() -> None:
    p = at(S.IDLE)
    p.text("hello")
    assert types(p) == ["conversation.item.create", "response.create"]
    assert p.reply.state is S.REQUESTED and p.response_live


@pytest.mark.parametrize("state", [S.REQUESTED, S.CANCEL_ON_CREATE, S.ACTIVE, S.CANCELLING])
def test_a_request_while_a_reply_is_live_waits_for_its_end(state: ReplyState) -> None:
    p = at(state)
    p.text("and another thing")
    assert types(p) == ["conversation.item.create"]  # no second response.create now
    assert p.reply.state is state
    if state in (S.REQUESTED, S.CANCEL_ON_CREATE):
        p.receive(created())
        p.take_outbound()
    p.receive(done())
    assert types(p) == ["response.create"]  # asked for once the live one ended
    assert p.reply.state is S.REQUESTED


@pytest.mark.parametrize(
    ("state", "new", "wire"),
    [
        (S.IDLE, S.ACTIVE, []),
        (S.REQUESTED, S.ACTIVE, []),
        (S.CANCEL_ON_CREATE, S.CANCELLING, ["response.cancel"]),
        (S.ACTIVE, S.ACTIVE, []),
        (S.CANCELLING, S.ACTIVE, []),
    ],
    ids=lambda v: v.name if isinstance(v, S) else str(v),
)
def test_created(state: ReplyState, new: ReplyState, wire: list[str]) -> None:
    p = at(state)
    events = p.receive(created("r2"))
    assert [type(e) for e in events] == [ResponseStarted]
    assert p.reply.state is new and p.response_id == "r2"
    assert types(p) == wire


@pytest.mark.parametrize(
    ("state", "new", "wire", "announced"),
    [
        (S.IDLE, S.IDLE, [], False),
        (S.REQUESTED, S.CANCEL_ON_CREATE, [], True),  # cancel deferred to its creation
        (S.CANCEL_ON_CREATE, S.CANCEL_ON_CREATE, [], False),
        (S.ACTIVE, S.CANCELLING, ["response.cancel"], True),
        (S.CANCELLING, S.CANCELLING, [], False),  # never a second cancel
    ],
    ids=lambda v: v.name if isinstance(v, S) else str(v),
)
def test_cancel(state: ReplyState, new: ReplyState, wire: list[str], announced: bool) -> None:
    p = at(state)
    events = p.interrupt(None)
    assert any(isinstance(e, Interrupted) for e in events) is announced
    assert p.reply.state is new
    assert types(p) == wire


@pytest.mark.parametrize(
    ("state", "new", "announced"),
    [
        (S.IDLE, S.IDLE, False),
        (S.REQUESTED, S.REQUESTED, True),
        (S.CANCEL_ON_CREATE, S.CANCEL_ON_CREATE, False),
        (S.ACTIVE, S.CANCELLING, True),
        (S.CANCELLING, S.CANCELLING, False),
    ],
    ids=lambda v: v.name if isinstance(v, S) else str(v),
)
def test_server_barge_in(state: ReplyState, new: ReplyState, announced: bool) -> None:
    p = at(state)
    events = p.receive(srv("input_audio_buffer.speech_started", audio_start_ms=0, item_id="u"))
    assert any(isinstance(e, Interrupted) for e in events) is announced
    assert p.reply.state is new
    assert types(p) == []  # the server cancels its own reply: we send nothing
    p.interrupt(None)
    assert "response.cancel" not in types(p)  # nor after it, from the app's barge-in


@pytest.mark.parametrize("state", list(S), ids=lambda v: v.name)
def test_done_ends_the_reply_from_every_state(state: ReplyState) -> None:
    p = at(state)
    p.receive(done(status="cancelled"))
    assert p.reply.state is S.IDLE and p.response_id is None and not p.response_live


@pytest.mark.parametrize("state", [S.REQUESTED, S.CANCEL_ON_CREATE])
def test_rejected_request_frees_the_reply(state: ReplyState) -> None:
    p = at(state)
    error = {"type": "invalid_request_error", "code": "x", "message": "no"}
    p.receive(srv("error", error={**error, "event_id": p.create_event_id}))
    assert p.reply.state is S.IDLE
    p.text("again")
    assert types(p) == ["conversation.item.create", "response.create"]
    p.receive(created("r9"))
    assert types(p) == []  # a stale early cancel does not hit the new reply


@pytest.mark.parametrize(
    ("state", "asked_again"),
    [
        (S.IDLE, False),
        (S.REQUESTED, True),
        (S.CANCEL_ON_CREATE, False),  # the user interrupted it: not asked for again
        (S.ACTIVE, True),  # cut by the drop: asked for again
        (S.CANCELLING, False),
    ],
    ids=lambda v: v.name if isinstance(v, S) else str(v),
)
def test_reset_on_a_new_connection(state: ReplyState, asked_again: bool) -> None:
    p = at(state)
    p.ready = False
    p.open()
    assert ("response.create" in types(p)) is asked_again
    assert p.reply.state is (S.REQUESTED if asked_again else S.IDLE)


def test_a_cut_verbatim_line_is_spoken_again_from_its_start() -> None:
    p = core()
    p.speak("Your table is booked.")
    p.receive(created("oob"))
    p.take_outbound()
    p.open()
    (request,) = [m for m in p.take_outbound() if isinstance(m, dict) and "response" in m]
    assert "Your table is booked." in request["response"]["instructions"]


# -- arbitrary sequences against the service's rules ---------------------------------------


class ReplyRules(RuleBasedStateMachine):
    """Any order of client calls and server events keeps the service's rules."""

    def __init__(self) -> None:
        super().__init__()
        self.p = core()
        self.server_live: str | None = None  # the response the server is running
        self.requests = 0  # response.create sent and not yet answered by response.created
        self.rid = 0

    def _flush(self) -> None:
        for m in self.p.take_outbound():
            if not isinstance(m, dict):
                continue
            if m["type"] == "response.create":
                assert self.requests == 0 and self.server_live is None, "two responses at once"
                self.requests += 1
            elif m["type"] == "response.cancel":
                assert self.server_live is not None, "cancel with nothing running"

    @rule(text=st.sampled_from(["a", "b"]))
    def user_text(self, text: str) -> None:
        self.p.text(text)
        self._flush()

    @rule()
    def speak(self) -> None:
        self.p.speak("line")
        self._flush()

    @rule()
    def interrupt(self) -> None:
        self.p.interrupt(None)
        self._flush()

    @rule()
    def server_creates(self) -> None:
        if self.requests == 0 and self.server_live is not None:
            return  # a service runs one response at a time
        self.requests = max(0, self.requests - 1)
        self.rid += 1
        self.server_live = f"r{self.rid}"
        self.p.receive(created(self.server_live))
        self._flush()

    @rule()
    def server_done(self) -> None:
        if self.server_live is None:
            return
        self.p.receive(done(self.server_live))
        self.server_live = None
        self._flush()

    @rule()
    def speech_started(self) -> None:
        # The service's VAD cancels its own reply and reports response.done later.
        self.p.receive(srv("input_audio_buffer.speech_started", audio_start_ms=0, item_id="u"))
        self._flush()

    @invariant()
    def state_matches_the_server(self) -> None:
        state = self.p.reply.state
        if self.server_live is not None:
            assert state in (S.ACTIVE, S.CANCELLING)
            assert self.p.response_id == self.server_live
        elif self.requests:
            assert state in (S.REQUESTED, S.CANCEL_ON_CREATE)
        else:
            assert state is S.IDLE


TestReplyRules = ReplyRules.TestCase
TestReplyRules.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
