"""The Logs Insights side of trace and audit: the queries built, a recorded answer parsed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ops.trace import sources, story
from ops.trace.cli import lookup, parser
from richpanel_destination import accounting, audit
from richpanel_destination.observability.insights import InsightsError, run_query
from richpanel_destination.observability.redact import Redactor, email_digest

HERE = Path(__file__).parent
TRACE = json.loads((HERE / "get_query_results.json").read_text())
AUDIT = json.loads((HERE / "audit_query_results.json").read_text())
T0 = accounting.timestamp_ms("2026-12-01 10:00:00.120")


class FakeLogs:
    """start_query / get_query_results: Running ``running`` times, then ``answer``."""

    def __init__(self, answer: dict[str, Any], running: int = 2) -> None:
        self.answer, self.running = answer, running
        self.started: list[dict[str, Any]] = []
        self.polls = 0

    def start_query(self, **kwargs: Any) -> dict[str, str]:
        self.started.append(kwargs)
        return {"queryId": self.answer["queryId"]}

    def get_query_results(self, queryId: str) -> dict[str, Any]:
        assert queryId == self.answer["queryId"]
        self.polls += 1
        if self.polls <= self.running:
            return {"status": "Running", "results": []}
        return self.answer

    def stop_query(self, queryId: str) -> None:
        pass


def test_trace_query_filters_on_every_value_and_sorts_by_time() -> None:
    query = accounting.trace_query({"messageId": ["m-1"], "email": ["hash:1", 'a"b\\c']})
    assert query == (
        'fields @timestamp, @log, @message | filter messageId = "m-1" or '
        'email in ["hash:1", "a\\"b\\\\c"] | sort @timestamp asc | limit 10000'
    )
    with pytest.raises(ValueError):
        accounting.trace_query({"messageId": []})


def test_audit_query_aggregates_per_message_id_and_keeps_only_the_unfinished() -> None:
    query = accounting.audit_query(1_796_000_000_000)
    assert 'message in ["event outcome", "retry later"]' in query
    assert 'coalesce(outcome, "queued") as state' in query
    assert "by messageId" in query
    assert "firstAttempt = 1 and firstAt < 1796000000000" in query
    for fate in (*accounting.FINAL, "failed"):
        assert f'"{fate}"' in query.split("lastState not in")[1]


def test_a_recorded_answer_parses_into_lines_in_time_order() -> None:
    client = FakeLogs(TRACE)
    rows = run_query(client, ["g1", "g2"], "q", 100, 200, sleep=lambda _: None)
    assert client.polls == 3 and client.started == [
        {"logGroupNames": ["g1", "g2"], "startTime": 100, "endTime": 200, "queryString": "q"}
    ]
    assert all("@ptr" not in row for row in rows)
    lines = [accounting.entry(row) for row in rows]
    assert [(e.source, e.state, e.fields["attempt"]) for e in lines if e] == [
        ("IngestFunction", "queued", 1),
        ("RetryFunction", "queued", 2),
        ("RetryFunction", "delivered", 3),
    ]
    assert lines[0] is not None and lines[0].at_ms == T0


def test_a_query_that_fails_or_never_ends_is_an_error() -> None:
    failed = dict(TRACE, status="Failed")
    with pytest.raises(InsightsError, match="Failed"):
        run_query(FakeLogs(failed, running=0), ["g"], "q", 0, 1, sleep=lambda _: None)
    ticks = iter(range(1000))
    with pytest.raises(InsightsError, match="still Running"):
        run_query(
            FakeLogs(TRACE, running=10**6), ["g"], "q", 0, 1,
            timeout=5, sleep=lambda _: None, clock=lambda: next(ticks),
        )  # fmt: skip


def test_trace_over_insights_tells_the_story_from_the_recorded_answer() -> None:
    source = sources.InsightsSource(FakeLogs(TRACE, running=0), ["g"], start_s=0, poll=0)
    lines = source.find({"messageId": ["m-1"]})
    sentence, final = story.fate(lines, T0 + 200_000, 86_400, 3600)
    assert (sentence, final) == ("delivered on attempt 3, 2 min after it arrived", True)
    assert "next in 7 s" in story.describe(lines[1])
    assert source.queries == [accounting.trace_query({"messageId": ["m-1"]})]


def test_the_fates_in_one_sentence() -> None:
    def line(**fields: Any) -> accounting.Entry:
        return accounting.Entry(T0, "RetryFunction", {"message": "event outcome", **fields})

    def said(*lines: accounting.Entry, now: int = T0 + 1000) -> str:
        return story.fate(list(lines), now, 86_400, 3600)[0]

    newer = "Richpanel has newer data from 2026-12-01T10:00:00.000+00:00 (messageId m-7)"
    assert said(line(outcome="superseded", reason=newer)) == "superseded by m-7"
    assert said(line(outcome="dead_lettered", reason="Richpanel answered 400: x")) == (
        "in the DLQ: Richpanel answered 400: x"
    )
    queued = line(outcome="queued", attempt=1, delaySeconds=40, reason="503")
    assert said(queued) == "still queued (in the retry queue), next attempt in about 39 s: 503"
    later = accounting.Entry(T0, "RetryFunction", {"message": "retry later", "delaySeconds": 0})
    assert said(later).startswith("still queued (in the retry queue), next attempt due now")
    assert said(queued, now=T0 + 90_001_000).startswith("UNACCOUNTED: queued, last seen 25 h ago")


def test_audit_rows_from_insights_find_the_lost_event_not_the_redriven_one() -> None:
    now = accounting.timestamp_ms("2026-12-02 10:30:00.000")
    accounts = accounting.from_stats(accounting.insights_rows(AUDIT))
    start = accounting.timestamp_ms("2026-12-01 09:00:00.000")
    result = accounting.audit(accounts, start, start + 3_600_000, now, 86_400, 3600)
    assert [a.message_id for a in result.unaccounted] == ["m-lost"]
    assert [a.message_id for a in result.in_flight] == ["m-redriven"]


def test_the_scheduled_audit_looks_at_one_closed_hour_a_retry_window_and_margin_ago() -> None:
    config = audit.AuditConfig.from_env(
        {"AUDIT_LOG_GROUPS": "a, b", "RETRY_WINDOW_SECONDS": "86400"}
    )
    now = accounting.timestamp_ms("2026-12-02 10:30:00.000")
    start, end = config.window(now)
    assert (accounting.format_timestamp(start), accounting.format_timestamp(end)) == (
        "2026-12-01 08:00:00.000",
        "2026-12-01 09:00:00.000",
    )
    client = FakeLogs(AUDIT, running=0)
    result = audit.run(config, client, now, sleep=lambda _: None)
    (started,) = client.started
    assert started["logGroupNames"] == ["a", "b"]
    assert (started["startTime"], started["endTime"]) == (start // 1000, now // 1000)
    assert started["queryString"] == accounting.audit_query(end)
    assert result.unaccounted == []  # m-lost was accepted at 09:10, after this window
    with pytest.raises(ValueError, match="AUDIT_LOG_GROUPS"):
        audit.AuditConfig.from_env({})


def test_email_is_normalised_once_for_the_logs_and_for_trace() -> None:
    redactor = Redactor()
    logged = redactor.for_log({"email": " Jane@Example.COM "})["email"]
    assert (
        logged
        == email_digest("jane@example.com")
        == redactor.for_log({"email": "jane@example.com"})["email"]
    )
    assert redactor.text("mail Jane@Example.com now") == f"mail {logged} now"
    assert redactor.identifier("Jane@Example.com") == logged  # a userId that is an email
    keys = lookup(parser().parse_args(["--email", "JANE@example.com"]))
    assert logged in keys["email"]


def test_since_takes_an_age_or_a_time() -> None:
    assert sources.parse_since("2h", now=10_000) == 2800
    assert sources.parse_since("2026-12-01T00:00:00Z") == 1_796_083_200
    with pytest.raises(sources.SourceError):
        sources.parse_since("yesterday")


def test_a_stack_is_read_from_its_outputs_and_parameters() -> None:
    class Cfn:
        def describe_stacks(self, StackName: str) -> dict[str, Any]:
            return {
                "Stacks": [
                    {
                        "Outputs": [
                            {"OutputKey": "IngestLogGroupName", "OutputValue": "/i"},
                            {"OutputKey": "RetryLogGroupName", "OutputValue": "/r"},
                        ],
                        "Parameters": [
                            {"ParameterKey": "RetryWindowSeconds", "ParameterValue": "3600"}
                        ],
                    }
                ]
            }

    source = sources.stack_source("s", 0, Cfn(), FakeLogs(TRACE))
    assert (list(source.log_groups), source.retry_window) == (["/i", "/r"], 3600)
