"""local.scheduler: EventBridge schedules emulated with a timer thread per Schedule event."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from local.lambda_runtime import LocalFunction
from local.scheduler import rate_seconds, schedule_events, schedulers
from local.template import Template, TemplateError

PARAMETERS = {
    "RichpanelSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rp",
    "InboundSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:in",
    "RichpanelRestSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rest",
}


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(15 minutes)", 900),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
    ],
)
def test_rate_expressions(expression: str, seconds: int) -> None:
    assert rate_seconds(expression) == seconds


def test_cron_is_not_emulated() -> None:
    with pytest.raises(TemplateError, match="only rate"):
        rate_seconds("cron(0 12 * * ? *)")


def test_the_canary_and_the_audit_are_the_scheduled_functions() -> None:
    template = Template.load()
    found = {fid: schedule_events(template, fid) for fid in template.function_ids()}
    assert {fid for fid, events in found.items() if events} == {"CanaryFunction", "AuditFunction"}
    context = template.context(PARAMETERS)
    audit = context.resolve_str(found["AuditFunction"]["AuditSchedule"])
    assert rate_seconds(audit) == 21600  # AuditRateMinutes' default: first run after 6 h


def fake_function(calls: list[Any], done: threading.Event) -> LocalFunction:
    spec = Template.load().function_spec("CanaryFunction")

    def handler(event: Any, context: Any) -> None:
        calls.append(event)
        if len(calls) >= 2:
            done.set()

    return LocalFunction(spec, handler, "stack-CanaryFunction", "arn:aws:lambda:::function:x")


def test_the_scheduler_invokes_with_a_scheduled_event_every_interval() -> None:
    template = Template.load()
    context = template.context(PARAMETERS)
    calls: list[Any] = []
    done = threading.Event()
    functions = {"CanaryFunction": fake_function(calls, done)}
    (default,) = schedulers(template, functions, context, {})
    assert default.interval == 900  # CanaryRateMinutes' default
    (fast,) = schedulers(template, functions, context, {"LOCAL_SCHEDULE_SECONDS": "0.05"})
    fast.start()
    try:
        assert done.wait(5)
    finally:
        fast.stop()
    event = calls[0]
    assert (event["source"], event["detail-type"]) == ("aws.events", "Scheduled Event")
    assert event["time"].endswith("Z") and event["resources"] == [fast.rule_arn]
    assert fast.invocations >= 2
