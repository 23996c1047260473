"""The silent-drop canary end to end through the in-process local stack.

The canary reads the sandbox's REST read-back and sends through the local API (the local stack
seeds its REST secret, so it exists); its runs are invoked with EventBridge events whose
scheduled times are one rate apart. A wrong Richpanel API key is answered 200 and dropped by
the sandbox, as by Richpanel: the canary's next run misses, CanaryArrived drops to 0 and the
alarm, evaluated as CloudWatch would from the template's definition, goes to ALARM.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.run import LocalStack
from local.secrets import put_secret
from local.template import Template
from richpanel_destination import runtime

from .conftest import forget

RATE = timedelta(minutes=15)
START = datetime(2026, 1, 1, tzinfo=UTC)
REST_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rd/rest-MnOpQr"


def alarm_definition() -> dict[str, Any]:
    """CanaryNotArrivingAlarm as CloudFormation would create it with the defaults."""
    template = Template.load()
    parameters = {
        "RichpanelSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rp",
        "InboundSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:in",
        "RichpanelRestSecretArn": REST_SECRET_ARN,
    }
    return template.resolved(parameters, placeholders=True).properties("CanaryNotArrivingAlarm")


def alarm_state(alarm: dict[str, Any], sums: list[float | None]) -> str:
    """CloudWatch's verdict over per-period sums (None: no data) for this metric alarm."""
    periods, needed = int(alarm["EvaluationPeriods"]), int(alarm["DatapointsToAlarm"])
    assert alarm["ComparisonOperator"] == "LessThanThreshold"
    window = sums[-periods:]
    if len(window) < periods:
        return "INSUFFICIENT_DATA"
    breaching = 0
    for value in window:
        if value is None:
            breaching += alarm["TreatMissingData"] == "breaching"
        else:
            breaching += value < float(alarm["Threshold"])
    return "ALARM" if breaching >= needed else "OK"


def canary_metrics(out: str) -> dict[str, float]:
    """The canary's EMF metrics in captured stdout (one run)."""
    found: dict[str, float] = {}
    for line in out.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:  # a line may hold several
            assert directive["Namespace"] == "RichpanelDestination"
            for metric in directive["Metrics"]:
                if metric["Name"].startswith("Canary"):
                    assert directive["Dimensions"] == [["service"]]
                    value = blob[metric["Name"]]
                    found[metric["Name"]] = float(sum(value) if isinstance(value, list) else value)
    return found


@pytest.fixture(scope="module")
def canary_stack(local_stack: LocalStack) -> Iterator[LocalStack]:
    assert "CanaryFunction" in local_stack.functions
    forget(local_stack)
    yield local_stack
    set_richpanel_key(local_stack, local_stack.richpanel_secret)


def set_richpanel_key(local: LocalStack, value: dict[str, str]) -> None:
    """Change the stack's Richpanel secret; the functions read it again (caches cleared)."""
    assert local.sqs is not None and local.context is not None
    name = f"{local.context.stack_name}/richpanel"
    put_secret(local.sqs.endpoint_url, local.context.region, name, value)
    runtime.reset()


def run(
    local: LocalStack, capsys: pytest.CaptureFixture[str], step: int
) -> tuple[Any, dict[str, float]]:
    """One scheduled canary run, `step` rates after START: its answer and its metrics."""
    capsys.readouterr()
    when = (START + step * RATE).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {"detail-type": "Scheduled Event", "source": "aws.events", "time": when}
    answer = local.functions["CanaryFunction"].invoke(event)
    return answer, canary_metrics(capsys.readouterr().out)


def test_the_canary_runs_in_the_local_stack_on_a_schedule(canary_stack: LocalStack) -> None:
    by_function = {s.function.spec.logical_id: s for s in canary_stack.schedulers}
    assert set(by_function) == {"CanaryFunction", "AuditFunction"}  # the audit: hourly
    scheduler = by_function["CanaryFunction"]
    assert scheduler.interval == RATE.total_seconds()
    assert canary_stack.environment["CANARY_API_URL"] == canary_stack.api.url  # type: ignore[union-attr]


def test_a_run_that_arrives_then_a_silent_drop_that_alarms(
    canary_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    alarm = alarm_definition()
    sums: list[float | None] = []

    first, metrics = run(canary_stack, capsys, 0)  # a new customer: nothing to read back yet
    assert (first["sent"], first["arrived"], first["seenMarker"]) == (True, False, "")
    assert metrics == {"CanaryArrived": 0.0, "CanarySent": 1.0}
    sums.append(metrics["CanaryArrived"])

    second, metrics = run(canary_stack, capsys, 1)
    assert second["arrived"] and second["seenMarker"] == first["sentMarker"]
    assert metrics["CanaryArrived"] == 1.0 and metrics["CanarySent"] == 1.0
    assert 0 <= metrics["CanaryLag"] < 60_000
    sums.append(metrics["CanaryArrived"])
    assert alarm_state(alarm, sums) == "OK"  # one miss (the first run) of the two needed

    # Richpanel answers 200 to a wrong API key and drops the call: the ingest "delivers".
    set_richpanel_key(canary_stack, {"apiKey": "wrong-key", "apiSecret": "wrong-secret"})
    third, metrics = run(canary_stack, capsys, 2)
    assert third["arrived"] and third["seenMarker"] == second["sentMarker"]
    assert third["sent"] and third["sendStatus"] == 200
    sums.append(metrics["CanaryArrived"])
    assert alarm_state(alarm, sums) == "OK"

    fourth, metrics = run(canary_stack, capsys, 3)
    assert not fourth["arrived"] and fourth["seenMarker"] == second["sentMarker"]
    assert metrics["CanaryArrived"] == 0.0 and metrics["CanarySent"] == 1.0
    assert metrics["CanaryLag"] > 0
    sums.append(metrics["CanaryArrived"])
    assert alarm_state(alarm, sums) == "OK"  # one miss: CanaryMissesToAlarm is 2

    fifth, metrics = run(canary_stack, capsys, 4)
    assert not fifth["arrived"] and metrics["CanaryArrived"] == 0.0
    sums.append(metrics["CanaryArrived"])
    assert alarm_state(alarm, sums) == "ALARM"

    # The key fixed: the next marker arrives, and the alarm clears one run later.
    set_richpanel_key(canary_stack, canary_stack.richpanel_secret)
    sixth, metrics = run(canary_stack, capsys, 5)  # still sees the last marker that arrived
    assert not sixth["arrived"] and sixth["sent"]
    sums.append(metrics["CanaryArrived"])
    assert alarm_state(alarm, sums) == "ALARM"
    seventh, metrics = run(canary_stack, capsys, 6)
    assert seventh["arrived"] and seventh["seenMarker"] == sixth["sentMarker"]
    sums.append(metrics["CanaryArrived"])
    assert alarm_state(alarm, sums) == "OK"


def test_a_canary_that_cannot_run_emits_nothing_and_that_breaches(
    canary_stack: LocalStack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A REST key the read-back refuses: the run fails, no metric, missing data breaches."""
    assert canary_stack.sqs is not None and canary_stack.context is not None
    name = f"{canary_stack.context.stack_name}/rest"
    rest = {"restKey": "not-the-rest-key", "restUrl": canary_stack.sandbox.url}  # type: ignore[union-attr]
    put_secret(canary_stack.sqs.endpoint_url, canary_stack.context.region, name, rest)
    runtime.reset()
    try:
        capsys.readouterr()
        with pytest.raises(Exception, match="read-back answered HTTP 401"):
            canary_stack.functions["CanaryFunction"].invoke({"time": "2026-02-01T00:00:00Z"})
        assert canary_metrics(capsys.readouterr().out) == {}
        assert alarm_state(alarm_definition(), [None, None]) == "ALARM"
    finally:
        good = {"restKey": "local-dev-rest-key", "restUrl": canary_stack.sandbox.url}  # type: ignore[union-attr]
        put_secret(canary_stack.sqs.endpoint_url, canary_stack.context.region, name, good)
        runtime.reset()
