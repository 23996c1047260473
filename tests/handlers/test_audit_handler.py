"""The audit Lambda's handler: Logs Insights as a test double, EMF and log lines out."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from richpanel_destination import accounting

ROOT = Path(__file__).resolve().parents[2]
ANSWER = json.loads((ROOT / "tests/ops/trace/audit_query_results.json").read_text())
NOW = accounting.timestamp_ms("2026-12-02 10:30:00.000")


class Context:
    function_name = "AuditFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:AuditFunction"
    memory_limit_in_mb = 256
    aws_request_id = "req-1"


class Logs:
    def __init__(self) -> None:
        self.queries: list[dict[str, Any]] = []

    def start_query(self, **kwargs: Any) -> dict[str, str]:
        self.queries.append(kwargs)
        return {"queryId": "q-1"}

    def get_query_results(self, queryId: str) -> dict[str, Any]:
        return ANSWER


def test_the_handler_publishes_events_unaccounted_and_logs_each_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(
        "AUDIT_LOG_GROUPS", "/aws/lambda/s/IngestFunction,/aws/lambda/s/RetryFunction"
    )
    monkeypatch.setenv("RETRY_WINDOW_SECONDS", "86400")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "s")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "RichpanelDestination")
    spec = importlib.util.spec_from_file_location("_audit_app", ROOT / "functions/audit/app.py")
    assert spec is not None and spec.loader is not None
    app = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = app
    spec.loader.exec_module(app)
    logs = Logs()
    monkeypatch.setattr(app.boto3, "client", lambda name: logs)
    # the window that ended 25 h before 10:30 on the 2nd: 09:00-10:00 on the 1st
    monkeypatch.setattr(app.audit.time, "time", lambda: (NOW + 3_600_000) / 1000)

    summary = app.lambda_handler({"detail-type": "Scheduled Event"}, Context())

    assert summary["unaccounted"] == 1 and summary["windowStart"] == "2026-12-01 09:00:00.000"
    (query,) = logs.queries
    assert query["logGroupNames"] == ["/aws/lambda/s/IngestFunction", "/aws/lambda/s/RetryFunction"]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    (lost,) = [line for line in lines if line.get("message") == "event unaccounted"]
    assert lost["messageId"] == "m-lost" and lost["lastState"] == "queued"
    (emf,) = [line for line in lines if "_aws" in line]
    assert emf["EventsUnaccounted"] == [1.0] and emf["EventsAudited"] == [2.0]
