"""Metrics: the breaker's changes are counted on any thread and emitted by the flush."""

from __future__ import annotations

import json
import threading

import pytest

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
