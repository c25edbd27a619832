"""The three provider cores route server messages the same way: one table per core, and
one rule for message types the table lacks (ignored, reported once at DEBUG, bounded)."""

from __future__ import annotations

import json
import logging

import pytest

from beluga_voice.conversation import Turn
from beluga_voice.providers.amazon_nova.protocol import NovaProtocol
from beluga_voice.providers.amazon_nova.settings import NovaSettings
from beluga_voice.providers.dispatch import Dispatcher
from beluga_voice.providers.events import SessionEvent, Usage
from beluga_voice.providers.gemini_live.protocol import GeminiLiveProtocol
from beluga_voice.providers.gemini_live.settings import GeminiSettings
from beluga_voice.providers.openai_realtime import OPENAI, OpenAIRealtimeSettings, RealtimeProtocol


def test_unknown_types_are_reported_once_and_known_ignored_ones_not_at_all(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[object] = []

    def handler(body: object) -> list[SessionEvent]:
        seen.append(body)
        return [Usage(1, 2, 3)]

    d = Dispatcher("svc", {"known": handler}, ignored={"ping"})
    with caplog.at_level(logging.DEBUG, logger="beluga_voice.providers.dispatch"):
        assert d("known", {"a": 1}) == [Usage(1, 2, 3)]
        assert d("ping", {}) == []
        assert d("brand.new", {}) == [] and d("brand.new", {}) == []
    assert seen == [{"a": 1}]
    assert d.unknown == {"brand.new"}
    assert [r.getMessage() for r in caplog.records] == [
        "svc: server message type 'brand.new' not handled; ignored"
    ]


def test_the_unknown_set_is_bounded() -> None:
    d = Dispatcher("svc", {})
    for i in range(1000):
        d(f"t{i}", {})
    assert len(d.unknown) == 64


def test_each_runs_present_keys_in_table_order_and_reports_the_rest() -> None:
    order: list[str] = []
    d = Dispatcher(
        "svc",
        {
            "first": lambda body: order.append("first") or [],
            "second": lambda body: order.append("second") or [],
        },
    )
    d.each({"second": {}, "extra": {}, "first": {}})
    assert order == ["first", "second"]
    assert d.unknown == {"extra"}


def test_openai_core_routes_through_its_dispatcher() -> None:
    core = RealtimeProtocol(OPENAI, OpenAIRealtimeSettings(), [])
    assert core.receive(json.dumps({"type": "rate_limits.updated", "rate_limits": []})) == []
    assert core.receive(json.dumps({"type": "response.brand_new"})) == []
    assert core.inbound.dispatch.unknown == {"response.brand_new"}


def test_gemini_core_routes_through_its_dispatcher() -> None:
    core = GeminiLiveProtocol(GeminiSettings())
    core.receive(json.dumps({"setupComplete": {}, "somethingNew": {}}))
    usage = {"promptTokenCount": 1, "responseTokenCount": 2, "totalTokenCount": 3}
    events = core.receive(json.dumps({"usageMetadata": usage}))
    assert [type(e) for e in events] == [Usage]
    assert core._dispatch.unknown == {"somethingNew"}


def test_nova_core_routes_through_its_dispatcher() -> None:
    history: list[Turn] = []
    core = NovaProtocol(NovaSettings(), history)
    assert core.on_event({"event": {"completionEnd": {}}}) == []
    assert core.on_event({"event": {"somethingNew": {}}}) == []
    assert core._dispatch.unknown == {"somethingNew"}
