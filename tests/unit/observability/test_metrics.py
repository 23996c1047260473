"""Metrics: the breaker's changes are counted on any thread and emitted by the flush."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from richpanel_destination.delivery.results import EventResult, Fate
from richpanel_destination.observability import metrics


def emf(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


def test_breaker_changes_wait_for_the_invocations_flush(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Test")
    threads = [
        threading.Thread(target=metrics.record_breaker, args=(change, {}))
        for change in ("opened", "probe", "reopened", "probe", "closed")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert emf(capsys.readouterr().out) == []  # nothing printed from the send threads
    metrics.flush_breaker()
    lines = emf(capsys.readouterr().out)
    assert sorted((line["Change"], line[metrics.BREAKER_METRIC]) for line in lines) == [
        ("closed", [1.0]), ("opened", [1.0]), ("probe", [2.0]), ("reopened", [1.0])
    ]  # fmt: skip
    metrics.flush_breaker()
    assert emf(capsys.readouterr().out) == []  # counted once


def points(lines: list[dict[str, Any]]) -> set[tuple[tuple[tuple[str, str], ...], str, float]]:
    """What CloudWatch extracts from EMF lines: (dimensions, metric, value) per value."""
    out = set()
    for line in lines:
        for directive in line["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dims = tuple(sorted((d, str(line[d])) for d in dimension_set if d != "service"))
                for metric in directive["Metrics"]:
                    for value in line[metric["Name"]]:
                        out.add((dims, metric["Name"], value))
    return out


def test_one_event_makes_one_emf_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Test")
    result = EventResult(0, "m1", "track", Fate.DELIVERED, latency_ms=42.0, status_class="2xx")
    metrics.record_ingest([result])
    lines = emf(capsys.readouterr().out)
    assert len(lines) == 1
    assert points(lines) == {
        ((("EventType", "track"),), "EventsReceived", 1.0),
        ((("EventType", "track"),), "EventsDelivered", 1.0),
        ((("StatusClass", "2xx"),), "RichpanelCalls", 1.0),
        ((("StatusClass", "2xx"),), "RichpanelLatency", 42.0),
    }


def test_sets_that_disagree_get_their_own_lines(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Test")
    results = [
        EventResult(0, "m1", "track", Fate.DELIVERED, latency_ms=40.0, status_class="2xx"),
        EventResult(1, "m2", "page", Fate.QUEUED, latency_ms=90.0, status_class="5xx"),
        EventResult(2, "m3", "track", Fate.QUEUED, latency_ms=95.0, status_class="5xx"),
    ]
    metrics.record_ingest(results)
    lines = emf(capsys.readouterr().out)
    assert len(lines) == 2  # track + 2xx, page + 5xx: no line holds two values of a key
    assert points(lines) == {
        ((("EventType", "track"),), "EventsReceived", 2.0),
        ((("EventType", "track"),), "EventsDelivered", 1.0),
        ((("EventType", "track"),), "EventsQueued", 1.0),
        ((("EventType", "page"),), "EventsReceived", 1.0),
        ((("EventType", "page"),), "EventsQueued", 1.0),
        ((("StatusClass", "2xx"),), "RichpanelCalls", 1.0),
        ((("StatusClass", "2xx"),), "RichpanelLatency", 40.0),
        ((("StatusClass", "5xx"),), "RichpanelCalls", 2.0),
        ((("StatusClass", "5xx"),), "RichpanelLatency", 90.0),
        ((("StatusClass", "5xx"),), "RichpanelLatency", 95.0),
    }


def test_a_big_batch_counts_every_call_on_whole_lines(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Test")
    results = [
        EventResult(n, f"m{n}", "track", Fate.DELIVERED, latency_ms=float(n), status_class="2xx")
        for n in range(150)
    ]
    metrics.record_ingest(results)
    lines = emf(capsys.readouterr().out)
    calls = [line["RichpanelCalls"] for line in lines if "RichpanelCalls" in line]
    assert calls == [[150.0]]
    assert all(len(line.get("RichpanelLatency", [])) <= 100 for line in lines)


def test_refused_profile_fields_are_counted_in_the_event_types_set(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Test")
    results = [
        EventResult(0, "m1", "identify", Fate.DELIVERED),
        EventResult(1, "m2", "identify", Fate.DELIVERED),
        EventResult(2, "m3", "track", Fate.DELIVERED),
    ]
    metrics.record_ingest(results, {0: ("traits.email", "traits.phone"), 1: ("traits.x",)})
    lines = emf(capsys.readouterr().out)
    found = points(lines)
    assert ((("EventType", "identify"),), metrics.REFUSED_METRIC, 3.0) in found
    assert not any(m == metrics.REFUSED_METRIC and d[0][1] == "track" for d, m, _ in found)
    metrics.record_ingest(results)  # a server key's request: no such metric at all
    assert metrics.REFUSED_METRIC not in capsys.readouterr().out
