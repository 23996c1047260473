"""The silent-drop canary in the template: only with a REST-key secret, scheduled, alarmed.

Its role's exact permissions are pinned in test_iam.py; its run end to end in
tests/functions/test_canary_e2e.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import ACCOUNT_ID, REGION

REST_SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:rd/rest-MnOpQr"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:alarms"
CANARY = ("CanaryFunction", "CanaryFunctionRole", "CanaryLogGroup", "CanaryNotArrivingAlarm")
APP = Path(__file__).resolve().parents[2] / "functions" / "canary" / "app.py"


def canary(cfn_for: Callable[..., Any], **parameters: str) -> Any:
    return cfn_for(RichpanelRestSecretArn=REST_SECRET_ARN, **parameters)


def schedule_rules(cfn: Any) -> dict[str, dict[str, Any]]:
    """The schedules of the canary (the audit has its own: test_observability.py)."""
    rules = {key: cfn.properties(key) for key in cfn.active_of_type("AWS::Events::Rule")}
    return {k: r for k, r in rules.items() if not k.startswith("AuditFunction")}


def test_no_canary_without_its_secret(cfn: Any) -> None:
    for logical_id in CANARY:
        assert not cfn.active(logical_id), logical_id
    assert schedule_rules(cfn) == {}
    permissions = cfn.active_of_type("AWS::Lambda::Permission")
    assert all(cfn.properties(key)["FunctionName"] != "<CanaryFunction>" for key in permissions)


def test_the_canary_exists_with_its_secret(cfn_for: Callable[..., Any]) -> None:
    cfn = canary(cfn_for)
    for logical_id in CANARY:
        assert cfn.active(logical_id), logical_id


@pytest.mark.parametrize(("minutes", "seconds"), [("15", 900), ("10", 600), ("60", 3600)])
def test_the_schedule_and_the_alarm_period_follow_the_rate(
    cfn_for: Callable[..., Any], minutes: str, seconds: int
) -> None:
    cfn = canary(cfn_for, CanaryRateMinutes=minutes)
    (rule,) = schedule_rules(cfn).values()
    assert rule["ScheduleExpression"] == f"rate({minutes} minutes)"
    assert [target["Arn"] for target in rule["Targets"]] == ["<CanaryFunction.Arn>"]
    assert (
        cfn.properties("CanaryFunction")["Environment"]["Variables"]["CANARY_RATE_MINUTES"]
        == minutes
    )
    alarm = cfn.properties("CanaryNotArrivingAlarm")
    assert int(alarm["Period"]) >= seconds  # a period shorter than the schedule is empty


@pytest.mark.parametrize("misses", ["2", "3"])
def test_the_alarm_fires_after_n_misses_and_on_silence(
    cfn_for: Callable[..., Any], misses: str
) -> None:
    parameters = {} if misses == "2" else {"CanaryMissesToAlarm": misses}
    alarm = canary(cfn_for, **parameters).properties("CanaryNotArrivingAlarm")
    assert alarm["TreatMissingData"] == "breaching"  # a canary that cannot run emits nothing
    assert str(alarm["EvaluationPeriods"]) == misses
    assert str(alarm["DatapointsToAlarm"]) == misses
    assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "Sum",
        "LessThanThreshold",
        1,
    )
    assert (alarm["Namespace"], alarm["MetricName"]) == ("RichpanelDestination", "CanaryArrived")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "richpanel-destination"}]
    assert "do not arrive" in alarm["AlarmDescription"]
    assert alarm["AlarmName"] == "richpanel-destination-canary-not-arriving"


def test_the_alarm_notifies_the_topic_like_the_others(cfn_for: Callable[..., Any]) -> None:
    assert "AlarmActions" not in canary(cfn_for).properties("CanaryNotArrivingAlarm")
    alarm = canary(cfn_for, AlarmTopicArn=TOPIC_ARN).properties("CanaryNotArrivingAlarm")
    assert alarm["AlarmActions"] == alarm["OKActions"] == [TOPIC_ARN]


def test_the_dashboard_lists_the_canary_alarm(cfn_for: Callable[..., Any]) -> None:
    cfn = canary(cfn_for)
    (dashboard,) = cfn.active_of_type("AWS::CloudWatch::Dashboard")
    body = json.loads(cfn.properties(dashboard)["DashboardBody"])
    (widget,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    assert "<CanaryNotArrivingAlarm.Arn>" in widget["properties"]["alarms"]


def test_the_canary_sends_through_the_stacks_own_api(cfn_for: Callable[..., Any]) -> None:
    cfn = canary(cfn_for)
    variables = cfn.properties("CanaryFunction")["Environment"]["Variables"]
    outputs = cfn.resolve(cfn.template["Outputs"])
    assert variables["CANARY_API_URL"] == outputs["ApiUrl"]["Value"]
    assert variables["INBOUND_SECRET_ARN"] == cfn.parameters["InboundSecretArn"]
    assert variables["RICHPANEL_REST_SECRET_ARN"] == REST_SECRET_ARN
    group = cfn.properties("CanaryLogGroup")["LogGroupName"]
    assert group == "/aws/lambda/richpanel-destination/CanaryFunction"


def test_the_alarm_watches_a_metric_the_handler_publishes() -> None:
    published = set(re.findall(r'name="(\w+)"', APP.read_text(encoding="utf-8")))
    assert published == {"CanarySent", "CanaryArrived", "CanaryLag"}
