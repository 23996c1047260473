"""Observability: alarms, dashboard, saved queries and log groups, and the operations runbook.

Everything is checked on the translated template (tests/template/conftest.py): each alarm, each
dashboard widget and each saved query must point at a resource this template defines, and each
metric must be one the functions emit (the contract below, namespace and `service` from the
functions' environment) or an AWS metric of one of those resources. docs/operations.md is checked
against the Makefile, samconfig.toml and the template, so its commands stay copyable.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = REPO_ROOT / "docs" / "operations.md"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:richpanel-destination-alarms"

# ----------------------------------------------------------------- what the functions emit

EVENT_TYPES = ("identify", "track", "page", "screen", "group", "alias", "delete", "unknown")
STATUS_CLASSES = ("2xx", "4xx", "5xx", "error")
EVENT_METRICS = (
    "EventsReceived",
    "EventsDelivered",
    "EventsQueued",
    "EventsDuplicate",
    "EventsSuperseded",
    "EventsDeadLettered",
    "EventsRejected",
    "EventsSkipped",
    "EventsFailed",
)
RETRY_METRICS = (
    "RetryAttempts",
    "RetryDelivered",
    "RetryDuplicate",
    "RetrySuperseded",
    "RetryDeadLettered",
    "RetryScheduled",
)
# Metric name -> its dimension names, as the functions emit them (EMF, Powertools Metrics).
AUDIT_METRICS = ("EventsUnaccounted", "EventsAudited")
EMITTED: dict[str, frozenset[str]] = {
    **{name: frozenset({"service", "EventType"}) for name in EVENT_METRICS},
    "RichpanelLatency": frozenset({"service", "StatusClass"}),
    "RichpanelCalls": frozenset({"service", "StatusClass"}),
    **{name: frozenset({"service"}) for name in RETRY_METRICS},
    "ColdStart": frozenset({"service", "function_name"}),  # Powertools' cold start metric
    # functions/canary/app.py (the optional canary, tests/template/test_canary.py)
    **{name: frozenset({"service"}) for name in ("CanarySent", "CanaryArrived", "CanaryLag")},
    # functions/audit/app.py (the conservation audit)
    **{name: frozenset({"service"}) for name in AUDIT_METRICS},
}
# AWS namespace -> (metrics the template may use, the dimensions naming the resource).
AWS_METRICS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "AWS/SQS": (
        frozenset(
            {
                "ApproximateNumberOfMessagesVisible",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
                "ApproximateAgeOfOldestMessage",
            }
        ),
        frozenset({"QueueName"}),
    ),
    "AWS/Lambda": (
        frozenset({"Errors", "Throttles", "Duration", "Invocations", "ConcurrentExecutions"}),
        frozenset({"FunctionName"}),
    ),
    "AWS/ApiGateway": (
        frozenset({"Count", "4XXError", "5XXError", "Latency", "IntegrationLatency"}),
        frozenset({"ApiName", "Stage"}),
    ),
}
STATISTICS = re.compile(r"^(Sum|Average|Minimum|Maximum|SampleCount|p\d{1,2}(\.\d+)?)$")

# Log lines (Powertools Logger JSON): the standard keys and what the functions add.
LOG_FIELDS = {
    "@timestamp",
    "@log",
    "@message",
    "level",
    "message",
    "correlation_id",
    "xray_trace_id",
    "messageId",
    "userId",
    "type",
    "outcome",
    "reason",
    "richpanelStatus",
    "latencyMs",
    "index",
    "attempt",
    "delaySeconds",
}
LOG_MESSAGES = {
    "event outcome",
    "request refused",
    "retry later",
    # also logged by ingest (functions/ingest/app.py): a 400, and an unreadable inbound secret
    "request rejected",
    "inbound credentials unavailable",
}
OUTCOMES = {"delivered", "queued", "duplicate", "dead_lettered", "rejected", "skipped", "failed"}

# ----------------------------------------------------------------- what the template must hold

# Alarm -> (namespace, metric, logical id of the resource it watches; None: the functions' own).
ALARMS = {
    "DeadLetterQueueAlarm": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "DeadLetterQueue"),
    "RetryQueueAgeAlarm": ("AWS/SQS", "ApproximateAgeOfOldestMessage", "RetryQueue"),
    "ApiServerErrorAlarm": ("AWS/ApiGateway", "5XXError", "IngestApi"),
    "IngestFunctionErrorsAlarm": ("AWS/Lambda", "Errors", "IngestFunction"),
    "RetryFunctionErrorsAlarm": ("AWS/Lambda", "Errors", "RetryFunction"),
    "IngestFunctionThrottlesAlarm": ("AWS/Lambda", "Throttles", "IngestFunction"),
    "RetryFunctionThrottlesAlarm": ("AWS/Lambda", "Throttles", "RetryFunction"),
    "EventsFailedAlarm": ("RichpanelDestination", "EventsFailed", None),
    "RichpanelFailingAlarm": ("RichpanelDestination", "RetryScheduled", None),
    "EventsUnaccountedAlarm": ("RichpanelDestination", "EventsUnaccounted", None),
    "AuditNotReportingAlarm": ("RichpanelDestination", "EventsAudited", None),
}
QUERIES = {
    "FailuresByReasonQuery": "failures-by-reason",
    "SlowestDeliveriesQuery": "slowest-deliveries",
    "MessageIdQuery": "one-message-id",
    "UserIdQuery": "one-user-id",
}
FUNCTIONS = ("IngestFunction", "RetryFunction")  # and the optional canary (test_canary.py)
LOGGING_FUNCTIONS = (*FUNCTIONS, "AuditFunction")  # the audit reads FUNCTIONS' log groups


# --------------------------------------------------------------------------- helpers


def stack(cfn: Any) -> str:
    return str(cfn.ref("AWS::StackName"))


def region(cfn: Any) -> str:
    return str(cfn.ref("AWS::Region"))


def function_env(cfn: Any, name: str) -> str:
    """An environment variable both functions share (Globals), as deployed."""
    values = {
        cfn.properties(function_id)["Environment"]["Variables"][name] for function_id in FUNCTIONS
    }
    assert len(values) == 1, f"{name} differs between the functions: {values}"
    return str(values.pop())


def namespace(cfn: Any) -> str:
    return function_env(cfn, "POWERTOOLS_METRICS_NAMESPACE")


def service(cfn: Any) -> str:
    return function_env(cfn, "POWERTOOLS_SERVICE_NAME")


def api_name(cfn: Any) -> str:
    """The REST API's name, which names its CloudWatch metrics (SAM's generated body's title)."""
    body = cfn.properties("IngestApi")["Body"]
    return str(body["info"]["title"])


def stage_name(cfn: Any) -> str:
    stages = [
        key
        for key in cfn.active_of_type("AWS::ApiGateway::Stage")
        if cfn.resources[key]["Properties"]["RestApiId"] == {"Ref": "IngestApi"}
    ]
    assert len(stages) == 1, stages
    return str(cfn.properties(stages[0])["StageName"])


def placeholder_id(value: str, attribute: str | None = None) -> str:
    """The logical id in '<Id>' (Ref) or '<Id.Attribute>' (GetAtt) as conftest evaluates them."""
    suffix = rf"\.{attribute}" if attribute else ""
    match = re.fullmatch(rf"<(\w+){suffix}>", value)
    assert match, f"{value!r} is not a reference to a resource of this template"
    return match.group(1)


def metric_target(cfn: Any, ns: str, metric: str, dimensions: dict[str, str]) -> str | None:
    """Check one metric; the logical id of the resource it is about (None: the functions' own)."""
    where = (ns, metric, dimensions)
    if ns == namespace(cfn):
        assert metric in EMITTED, f"the functions emit no metric {metric}: {where}"
        assert set(dimensions) == EMITTED[metric], where
        assert dimensions["service"] == service(cfn), where
        if "EventType" in dimensions:
            assert dimensions["EventType"] in EVENT_TYPES, where
        if "StatusClass" in dimensions:
            assert dimensions["StatusClass"] in STATUS_CLASSES, where
        if "function_name" in dimensions:
            function_id = placeholder_id(dimensions["function_name"])
            assert function_id in cfn.of_type("AWS::Lambda::Function"), where
            return function_id
        return None
    assert ns in AWS_METRICS, f"unexpected namespace {ns}"
    metrics, dimension_names = AWS_METRICS[ns]
    assert metric in metrics, where
    assert set(dimensions) == dimension_names, where
    if ns == "AWS/SQS":
        queue_id = placeholder_id(dimensions["QueueName"], "QueueName")
        assert queue_id in cfn.of_type("AWS::SQS::Queue"), where
        return queue_id
    if ns == "AWS/Lambda":
        function_id = placeholder_id(dimensions["FunctionName"])
        assert function_id in cfn.of_type("AWS::Lambda::Function"), where
        return function_id
    assert dimensions == {"ApiName": api_name(cfn), "Stage": stage_name(cfn)}, where
    return "IngestApi"


def as_dimensions(items: list[dict[str, str]]) -> dict[str, str]:
    return {item["Name"]: item["Value"] for item in items}


def alarms(cfn: Any) -> dict[str, dict[str, Any]]:
    """The alarms the stack creates (the canary's only with its secret: test_canary.py)."""
    return {key: cfn.properties(key) for key in cfn.active_of_type("AWS::CloudWatch::Alarm")}


def dashboard(cfn: Any) -> dict[str, Any]:
    (dashboard_id,) = cfn.of_type("AWS::CloudWatch::Dashboard")
    body = cfn.properties(dashboard_id)["DashboardBody"]
    assert isinstance(body, str)
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def metric_widgets(cfn: Any) -> list[dict[str, Any]]:
    return [w["properties"] for w in dashboard(cfn)["widgets"] if w["type"] == "metric"]


# SEARCH('{Namespace,Dim1,Dim2} key="value" MetricName="X"', 'Stat', period)
_SEARCH = re.compile(r"SEARCH\('\{([^}]*)\}([^']*)',\s*'([\w.]+)',\s*(\d+)\)")
_TERM = re.compile(r'(\w+)="([^"]*)"')


def dashboard_metrics(cfn: Any) -> Iterator[tuple[str, str, str | None, str, bool]]:
    """(namespace, metric, resource id or None, statistic, by SEARCH) for every dashboard metric."""
    for widget in metric_widgets(cfn):
        assert widget["region"] == region(cfn), widget["title"]
        for entry in widget["metrics"]:
            options = entry[-1] if isinstance(entry[-1], dict) else {}
            if "expression" in options:
                assert len(entry) == 1, entry
                searches = _SEARCH.findall(options["expression"])
                assert searches, f"{widget['title']}: {options['expression']} has no SEARCH"
                for schema, terms, stat, _period in searches:
                    ns, *dimension_names = (part.strip() for part in schema.split(","))
                    filters = dict(_TERM.findall(terms))
                    metric = filters.pop("MetricName")
                    assert ns == namespace(cfn), options["expression"]
                    assert metric in EMITTED, options["expression"]
                    assert set(dimension_names) == EMITTED[metric], options["expression"]
                    assert filters == {"service": service(cfn)}, options["expression"]
                    assert STATISTICS.match(stat), options["expression"]
                    yield ns, metric, None, stat, True
                continue
            names = entry[:-1] if options else entry
            assert "." not in names, f"{widget['title']}: write metrics out in full"
            ns, metric, *pairs = names
            dimensions = dict(zip(pairs[::2], pairs[1::2], strict=True))
            stat = options.get("stat", widget.get("stat"))
            assert stat and STATISTICS.match(stat), (widget["title"], entry)
            yield ns, metric, metric_target(cfn, ns, metric, dimensions), stat, False


# --------------------------------------------------------------------------- the contract


def test_the_metric_contract_matches_the_code() -> None:
    """The names above are the ones richpanel_destination.observability.metrics emits."""
    from richpanel_destination.observability import metrics

    assert set(metrics.EVENT_METRICS.values()) | {"EventsReceived"} == set(EVENT_METRICS)
    assert set(metrics.RETRY_METRICS.values()) | {"RetryAttempts"} == set(RETRY_METRICS)
    assert set(metrics.KNOWN_TYPES) | {"unknown"} == set(EVENT_TYPES)


def test_metrics_namespace_and_service_are_the_functions(cfn: Any, raw: Any) -> None:
    assert namespace(cfn) == "RichpanelDestination"
    # the service dimension is the stack name (conftest deploys "richpanel-destination"), so
    # a dev and a prod stack in one account never share an alarm or a dashboard line
    variables = raw["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == {"Ref": "AWS::StackName"}
    assert service(cfn) == "richpanel-destination"


# --------------------------------------------------------------------------- alarms


def test_every_alarm_exists(cfn: Any) -> None:
    assert set(cfn.active_of_type("AWS::CloudWatch::Alarm")) == set(ALARMS)


@pytest.mark.parametrize("alarm_id", sorted(ALARMS))
def test_alarm_watches_a_resource_of_this_template(cfn: Any, alarm_id: str) -> None:
    expected_ns, expected_metric, expected_target = ALARMS[alarm_id]
    alarm = cfn.properties(alarm_id)
    if "Metrics" in alarm:  # metric math: every MetricStat is checked
        stats = [query["MetricStat"] for query in alarm["Metrics"] if "MetricStat" in query]
        assert stats
        for stat in stats:
            metric = stat["Metric"]
            assert (metric["Namespace"], metric["MetricName"]) == (expected_ns, expected_metric)
            target = metric_target(
                cfn, metric["Namespace"], metric["MetricName"], as_dimensions(metric["Dimensions"])
            )
            assert target == expected_target
    else:
        assert (alarm["Namespace"], alarm["MetricName"]) == (expected_ns, expected_metric)
        target = metric_target(
            cfn, alarm["Namespace"], alarm["MetricName"], as_dimensions(alarm["Dimensions"])
        )
        assert target == expected_target


def test_alarms_fire_on_anything_above_their_threshold_and_not_on_silence(cfn: Any) -> None:
    names = set()
    for alarm_id, alarm in alarms(cfn).items():
        names.add(alarm["AlarmName"])
        if alarm_id == "AuditNotReportingAlarm":  # silence is what it reports (its own test)
            continue
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold", alarm_id
        assert alarm["TreatMissingData"] == "notBreaching", alarm_id
        periods = 6 if alarm_id == "RichpanelFailingAlarm" else 1  # 30 minutes of failures
        assert (alarm["EvaluationPeriods"], alarm.get("DatapointsToAlarm", 1)) == (periods,) * 2
        assert alarm["AlarmName"].startswith(f"{stack(cfn)}-"), alarm_id
        assert alarm["AlarmDescription"], alarm_id
        if alarm_id != "RetryQueueAgeAlarm":
            assert alarm["Threshold"] == 0, alarm_id
    assert len(names) == len(ALARMS)


def test_richpanel_failing_alarm_sums_postponed_retries_per_five_minutes(cfn: Any) -> None:
    alarm = cfn.properties("RichpanelFailingAlarm")
    assert (alarm["Statistic"], alarm["Period"], alarm["Threshold"]) == ("Sum", 300, 0)


def test_dlq_alarm_fires_on_the_first_message(cfn: Any) -> None:
    alarm = cfn.properties("DeadLetterQueueAlarm")
    assert (alarm["Statistic"], alarm["Period"], alarm["Threshold"]) == ("Maximum", 60, 0)


def test_retry_age_alarm_follows_its_parameter(cfn_for: Callable[..., Any]) -> None:
    assert cfn_for().properties("RetryQueueAgeAlarm")["Threshold"] == "3600"
    alarm = cfn_for(RetryAgeAlarmSeconds="7200").properties("RetryQueueAgeAlarm")
    assert (alarm["Statistic"], alarm["Threshold"]) == ("Maximum", "7200")


def test_api_alarm_counts_5xx_over_five_minutes(cfn: Any) -> None:
    alarm = cfn.properties("ApiServerErrorAlarm")
    assert (alarm["Statistic"], alarm["Period"], alarm["Threshold"]) == ("Sum", 300, 0)


def test_every_function_has_an_errors_and_a_throttles_alarm(cfn: Any) -> None:
    watched = {
        (alarm["MetricName"], alarm["Dimensions"][0]["Value"])
        for alarm in alarms(cfn).values()
        if alarm.get("Namespace") == "AWS/Lambda"
    }
    # The canary has none: a failed or throttled run publishes nothing, which its own alarm
    # treats as a miss (test_canary.py).
    # The audit neither: its alarm is its metric (events-unaccounted), and a failed run is
    # in its log group (docs/operations.md#find-one-event).
    functions = set(cfn.active_of_type("AWS::Lambda::Function"))
    functions -= {"CanaryFunction", "AuditFunction"}
    assert watched == {(m, f"<{f}>") for m in ("Errors", "Throttles") for f in functions}


def test_events_failed_alarm_sums_every_event_type(cfn: Any) -> None:
    queries = cfn.properties("EventsFailedAlarm")["Metrics"]
    returned = [query for query in queries if query["ReturnData"]]
    assert len(returned) == 1
    (expression,) = returned
    stats = {query["Id"]: query["MetricStat"] for query in queries if "MetricStat" in query}
    by_type = {as_dimensions(s["Metric"]["Dimensions"])["EventType"]: s for s in stats.values()}
    assert sorted(by_type) == sorted(EVENT_TYPES)
    assert all((s["Stat"], s["Period"]) == ("Sum", 300) for s in stats.values())
    match = re.fullmatch(r"SUM\(\[([\w, ]+)\]\)", expression["Expression"])
    assert match, expression["Expression"]
    assert sorted(part.strip() for part in match.group(1).split(",")) == sorted(stats)


def test_alarms_notify_nobody_by_default(cfn: Any) -> None:
    for alarm_id, alarm in alarms(cfn).items():
        assert not {"AlarmActions", "OKActions", "InsufficientDataActions"} & set(alarm), alarm_id


def test_alarms_notify_the_topic_when_one_is_given(cfn_for: Callable[..., Any]) -> None:
    cfn = cfn_for(AlarmTopicArn=TOPIC_ARN)
    for alarm_id, alarm in alarms(cfn).items():
        assert alarm["AlarmActions"] == [TOPIC_ARN], alarm_id
        assert alarm["OKActions"] == [TOPIC_ARN], alarm_id
        assert "InsufficientDataActions" not in alarm, alarm_id


def test_alarm_topic_must_be_an_sns_topic(raw: dict[str, Any]) -> None:
    spec = raw["Parameters"]["AlarmTopicArn"]
    assert spec["Default"] == ""
    assert re.fullmatch(spec["AllowedPattern"], "")
    assert re.fullmatch(spec["AllowedPattern"], TOPIC_ARN)
    for wrong in ("ops@example.com", "https://hooks.example.com/x", "arn:aws:sqs:us-east-1:1:q"):
        assert not re.fullmatch(spec["AllowedPattern"], wrong), wrong


# --------------------------------------------------------------------------- dashboard


def test_one_dashboard_named_for_stack_and_region(cfn: Any) -> None:
    (dashboard_id,) = cfn.active_of_type("AWS::CloudWatch::Dashboard")
    name = cfn.properties(dashboard_id)["DashboardName"]
    assert name == f"{stack(cfn)}-{region(cfn)}"  # dashboards are global to the account
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,255}", name)


def test_dashboard_parses_and_lays_out_on_the_grid(cfn: Any) -> None:
    widgets = dashboard(cfn)["widgets"]
    assert widgets
    for widget in widgets:
        assert widget["type"] in {"metric", "text", "alarm"}, widget
        assert widget["x"] + widget["width"] <= 24, widget
        assert widget["width"] > 0 and widget["height"] > 0, widget


def test_every_dashboard_metric_is_emitted_or_belongs_to_a_template_resource(cfn: Any) -> None:
    """dashboard_metrics checks each metric; here: it is not empty and names the resources."""
    seen = list(dashboard_metrics(cfn))
    assert seen
    targets = {target for _, _, target, _, _ in seen if target}
    assert targets == {"RetryQueue", "DeadLetterQueue", "IngestApi", *FUNCTIONS}


def test_dashboard_shows_the_event_flow(cfn: Any) -> None:
    summed = {
        metric for ns, metric, _, stat, search in dashboard_metrics(cfn) if search and stat == "Sum"
    }
    assert set(EVENT_METRICS) <= summed  # received -> delivered / queued / duplicate / DLQ ...
    retry = {metric for _, metric, _, _, search in dashboard_metrics(cfn) if not search}
    assert set(RETRY_METRICS) <= retry
    expressions = [
        entry[0]["expression"]
        for widget in metric_widgets(cfn)
        for entry in widget["metrics"]
        if "expression" in entry[0]
    ]
    for metric in EVENT_METRICS:  # one line per outcome, summed over the event types
        assert any(e.startswith("SUM(SEARCH(") and f'"{metric}"' in e for e in expressions)


def test_dashboard_shows_richpanel_latency_and_calls(cfn: Any) -> None:
    seen = {(metric, stat, search) for _, metric, _, stat, search in dashboard_metrics(cfn)}
    for percentile in ("p50", "p95", "p99"):
        assert ("RichpanelLatency", percentile, False) in seen
    assert ("RichpanelCalls", "Sum", True) in seen  # by StatusClass


def test_dashboard_shows_queues_api_and_functions(cfn: Any) -> None:
    seen = {(ns, metric, target) for ns, metric, target, _, _ in dashboard_metrics(cfn)}
    expected = {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "RetryQueue"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage", "RetryQueue"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "DeadLetterQueue"),
        ("AWS/ApiGateway", "4XXError", "IngestApi"),
        ("AWS/ApiGateway", "5XXError", "IngestApi"),
        ("AWS/ApiGateway", "Latency", "IngestApi"),
        *(
            ("AWS/Lambda", metric, function_id)
            for metric in ("Errors", "Throttles", "Duration")
            for function_id in FUNCTIONS
        ),
    }
    assert expected <= seen


def test_dashboard_lists_every_alarm(cfn: Any) -> None:
    (widget,) = [w for w in dashboard(cfn)["widgets"] if w["type"] == "alarm"]
    listed = {placeholder_id(arn, "Arn") for arn in widget["properties"]["alarms"]}
    assert listed == set(cfn.active_of_type("AWS::CloudWatch::Alarm"))


def test_dashboard_marks_the_retry_age_threshold(cfn_for: Callable[..., Any]) -> None:
    for value in ("3600", "900"):
        cfn = cfn_for(RetryAgeAlarmSeconds=value)
        annotations = [
            line["value"]
            for widget in metric_widgets(cfn)
            for line in widget.get("annotations", {}).get("horizontal", [])
        ]
        assert annotations == [int(value)]


def test_dashboard_url_output(cfn: Any) -> None:
    url = cfn.resolve(cfn.template["Outputs"]["DashboardUrl"]["Value"])
    r = region(cfn)
    assert url == (
        f"https://{r}.console.aws.amazon.com/cloudwatch/home?region={r}"
        "#dashboards/dashboard/<Dashboard>"
    )
    assert cfn.resources["Dashboard"]["Type"] == "AWS::CloudWatch::Dashboard"


# --------------------------------------------------------------------------- log groups


def log_group_of(cfn: Any, function_id: str) -> str:
    ref = cfn.resources[function_id]["Properties"]["LoggingConfig"]["LogGroup"]
    assert set(ref) == {"Ref"}, ref
    assert cfn.resources[ref["Ref"]]["Type"] == "AWS::Logs::LogGroup"
    return str(ref["Ref"])


def test_each_function_logs_to_a_log_group_of_the_stack(cfn: Any) -> None:
    groups = {function_id: log_group_of(cfn, function_id) for function_id in LOGGING_FUNCTIONS}
    assert set(cfn.active_of_type("AWS::Lambda::Function")) == set(LOGGING_FUNCTIONS)
    assert sorted(groups.values()) == sorted(cfn.active_of_type("AWS::Logs::LogGroup"))
    for function_id, group_id in groups.items():
        assert cfn.properties(group_id)["LogGroupName"] == (
            f"/aws/lambda/{stack(cfn)}/{function_id}"
        )


def test_log_group_names_do_not_wait_for_the_function(raw: dict[str, Any]) -> None:
    """A name built from the function's would let Lambda create the group first (no retention)."""
    for group_id, resource in raw["Resources"].items():
        if resource["Type"] != "AWS::Logs::LogGroup":
            continue
        name = resource["Properties"]["LogGroupName"]
        text = name["Fn::Sub"] if isinstance(name, dict) else name
        assert not any(f"${{{function_id}" in text for function_id in FUNCTIONS), group_id


def test_log_retention_follows_its_parameter(cfn_for: Callable[..., Any]) -> None:
    for parameters, days in (({}, "30"), ({"LogRetentionDays": "90"}, "90")):
        cfn = cfn_for(**parameters)
        for group_id in cfn.of_type("AWS::Logs::LogGroup"):
            assert cfn.properties(group_id)["RetentionInDays"] == days


def test_log_group_outputs(cfn: Any) -> None:
    outputs = cfn.template["Outputs"]
    for function_id in FUNCTIONS:
        key = function_id.replace("Function", "LogGroupName")
        assert outputs[key]["Value"] == {"Ref": log_group_of(cfn, function_id)}


# --------------------------------------------------------------------------- saved queries


def query_identifiers(query: str) -> set[str]:
    """Field names a Logs Insights query reads (keywords, functions, aliases, literals left out)."""
    without_literals = re.sub(r'"[^"]*"', '""', query)
    aliases = set(re.findall(r"\bas\s+(\w+)", without_literals))
    words = set(re.findall(r"@?[A-Za-z_][\w.]*", without_literals))
    keywords = {"fields", "filter", "stats", "sort", "limit", "by", "as", "and", "or", "not"}
    keywords |= {"in", "asc", "desc", "count", "latest", "ispresent"}
    return words - keywords - aliases


def test_every_saved_query_exists_and_reads_both_log_groups(cfn: Any) -> None:
    assert set(cfn.active_of_type("AWS::Logs::QueryDefinition")) == set(QUERIES)
    groups = [f"<{log_group_of(cfn, function_id)}>" for function_id in FUNCTIONS]
    for query_id, slug in QUERIES.items():
        query = cfn.properties(query_id)
        assert query["Name"] == f"{stack(cfn)}/{slug}"
        assert query["LogGroupNames"] == groups, query_id


@pytest.mark.parametrize("query_id", sorted(QUERIES))
def test_saved_queries_read_only_fields_and_messages_the_code_logs(cfn: Any, query_id: str) -> None:
    text = cfn.properties(query_id)["QueryString"]
    assert query_identifiers(text) <= LOG_FIELDS, query_identifiers(text) - LOG_FIELDS
    for clause in re.findall(r'message\s*(?:=\s*"[^"]*"|in\s*\[[^\]]*\])', text):
        assert set(re.findall(r'"([^"]*)"', clause)) <= LOG_MESSAGES, clause
    for clause in re.findall(r'outcome\s*(?:=\s*"[^"]*"|in\s*\[[^\]]*\])', text):
        assert set(re.findall(r'"([^"]*)"', clause)) <= OUTCOMES, clause


def test_what_each_saved_query_does(cfn: Any) -> None:
    def text(query_id: str) -> str:
        return " ".join(cfn.properties(query_id)["QueryString"].split())

    assert 'filter messageId = "REPLACE_ME"' in text("MessageIdQuery")
    assert 'filter userId = "REPLACE_ME"' in text("UserIdQuery")
    assert "sort latencyMs desc" in text("SlowestDeliveriesQuery")
    failures = text("FailuresByReasonQuery")
    assert re.search(r"stats count\(\*\).* by .*\breason\b", failures)
    assert {"queued", "dead_lettered", "rejected", "failed"} <= set(re.findall(r"\w+", failures))


# --------------------------------------------------------------------------- runbook


def runbook() -> str:
    return OPERATIONS.read_text(encoding="utf-8")


def runbook_code() -> str:
    """Fenced blocks and inline code of docs/operations.md, shell line continuations joined."""
    text = runbook()
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.M | re.S)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"^```.*?^```", "", text, flags=re.M | re.S))
    return "\n".join(blocks + inline).replace("\\\n", " ")


def make_targets() -> set[str]:
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", makefile, flags=re.M))


def environments() -> dict[str, dict[str, Any]]:
    """samconfig.toml's environments (default, dev, prod) and their command tables."""
    config = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    return {name: table for name, table in config.items() if isinstance(table, dict)}


def stack_names() -> set[str]:
    return {env["global"]["parameters"]["stack_name"] for env in environments().values()}


def test_runbook_make_targets_exist() -> None:
    used = set(re.findall(r"(?:^|[\s;&|(])make[ \t]+([a-z][\w-]*)", runbook_code(), flags=re.M))
    assert used, "docs/operations.md names no make target"
    assert used <= make_targets(), used - make_targets()
    stacks = set(re.findall(r"\bSTACK=([\w-]+)", runbook_code()))
    assert stacks <= stack_names(), stacks - stack_names()


def test_runbook_sam_commands_name_environments_stacks_and_functions(raw: dict[str, Any]) -> None:
    code = runbook_code()
    chosen = set(re.findall(r"--config-env[ \t]+([a-z][\w-]*)", code))  # not placeholders
    assert chosen == set(environments()) - {"default"}
    named = set(re.findall(r"--stack-name[ \t]+([a-z][\w-]*)", code))
    named |= set(re.findall(r"--stack[ \t]+([a-z][\w-]*)", code))
    assert named and named <= stack_names(), named - stack_names()
    functions = {
        key for key, r in raw["Resources"].items() if r["Type"] == "AWS::Serverless::Function"
    }
    invoked = set(re.findall(r"sam (?:logs|local invoke)\b[^\n]*?\s-n\s+(\w+)", code))
    invoked |= set(re.findall(r"sam local invoke\s+(\w+)", code))
    assert invoked == functions, invoked ^ functions
    for command in ("sam build", "sam deploy", "sam logs", "sam traces"):
        assert command in code, command


def test_runbook_parameters_and_outputs_exist(raw: dict[str, Any]) -> None:
    code = runbook_code()
    overrides = {
        token.split("=", 1)[0]
        for arguments in re.findall(r"--parameter-overrides((?:[ \t]+(?!--)\S+)+)", code)
        for token in arguments.split()
    }
    assert overrides, "docs/operations.md overrides no parameter"
    assert overrides <= set(raw["Parameters"]), overrides - set(raw["Parameters"])
    outputs = set(re.findall(r"OutputKey=='(\w+)'", code))
    assert outputs and outputs <= set(raw["Outputs"]), outputs - set(raw["Outputs"])


def test_runbook_environment_table_matches_samconfig() -> None:
    rows = {
        cells[0]: cells
        for line in runbook().splitlines()
        if line.startswith("| ")
        for cells in [[c.strip().strip("`") for c in line.strip("|").split("|")]]
    }
    for environment, commands in environments().items():
        overrides = dict(
            item.split("=", 1)
            for item in commands["deploy"]["parameters"]["parameter_overrides"].split()
        )
        row = rows[environment]
        assert commands["global"]["parameters"]["stack_name"] in row, row
        assert overrides["StageName"] in row and overrides["LogLevel"] in row, row


def test_runbook_names_every_alarm_query_log_group_and_the_dashboard(cfn: Any) -> None:
    text = runbook()
    for alarm_id in ALARMS:
        assert f"`{cfn.properties(alarm_id)['AlarmName']}`" in text, alarm_id
    for query_id in QUERIES:
        assert f"`{cfn.properties(query_id)['Name']}`" in text, query_id
    groups = {cfn.properties(log_group_of(cfn, f))["LogGroupName"] for f in FUNCTIONS}
    mentioned = set(re.findall(r"/aws/lambda/[\w-]+/\w+", text))
    assert mentioned == groups
    assert cfn.properties("Dashboard")["DashboardName"] in text


# CamelCase names in inline code that are neither in the template nor a metric: AWS API names.
AWS_NAMES = {
    "ListMessageMoveTasks",
    "MaximumConcurrency",
    "SendMessageBatch",
    "StartMessageMoveTask",
    "BuildMethod",
    "PutMetricData",
    "StartQuery",  # Logs Insights (Find one event)
    "GetQueryResults",
}


def test_functions_log_json_without_platform_lines_at_the_level_of_log_level(
    raw: dict[str, Any],
) -> None:
    """Issue 18: no START/END/REPORT lines; Lambda's level follows LogLevel."""
    config = raw["Globals"]["Function"]["LoggingConfig"]
    assert (config["LogFormat"], config["SystemLogLevel"]) == ("JSON", "WARN")
    levels = raw["Mappings"]["LambdaLogLevel"]
    assert set(levels) == set(raw["Parameters"]["LogLevel"]["AllowedValues"])
    assert {k: v["Level"] for k, v in levels.items()} == {
        "DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARN", "ERROR": "ERROR",
    }  # fmt: skip


def test_runbook_camel_case_names_are_real(raw: dict[str, Any]) -> None:
    """A `CamelCase` name in the runbook is a parameter, resource, output, metric or AWS name."""
    known = set(raw["Parameters"]) | set(raw["Resources"]) | set(raw["Outputs"])
    known |= set(EMITTED) | {m for metrics, _ in AWS_METRICS.values() for m in metrics}
    known |= AWS_NAMES | {
        raw["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    }
    # the functions' settings (Globals), e.g. LoggingConfig and its ApplicationLogLevel
    known |= set(raw["Globals"]["Function"]) | set(raw["Globals"]["Function"]["LoggingConfig"])
    names = set(re.findall(r"`([A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+)`", runbook()))
    assert names - known == set()


def test_xray_samples_this_stacks_api_at_the_parameters_rate(cfn_for: Any) -> None:
    """One sampling rule, for this API stage only, at TraceSampleRate (default 1 %)."""
    cfn = cfn_for()
    (rule_id,) = [i for i, r in cfn.resources.items() if r["Type"] == "AWS::XRay::SamplingRule"]
    rule = cfn.properties(rule_id)["SamplingRule"]
    assert float(rule["FixedRate"]) == 0.01 and int(rule["ReservoirSize"]) == 1
    assert "/restapis/<IngestApi>/stages/" in rule["ResourceARN"]
    assert (
        float(cfn_for(TraceSampleRate="0.2").properties(rule_id)["SamplingRule"]["FixedRate"])
        == 0.2
    )


def test_the_audit_metric_contract_matches_the_handler() -> None:
    """functions/audit/app.py publishes the metrics the events-unaccounted alarm reads."""
    source = (Path(__file__).resolve().parents[2] / "functions/audit/app.py").read_text()
    assert set(re.findall(r'name="(\w+)"', source)) == set(AUDIT_METRICS)


def test_events_unaccounted_alarm_fires_on_one_event_a_window(cfn: Any) -> None:
    alarm = cfn.properties("EventsUnaccountedAlarm")
    assert (alarm["Statistic"], alarm["Period"], alarm["Threshold"]) == ("Maximum", 21600, 0)
    (rule,) = [
        cfn.properties(key)
        for key in cfn.active_of_type("AWS::Events::Rule")
        if cfn.properties(key)["Targets"][0]["Arn"] == "<AuditFunction.Arn>"
    ]
    assert rule["ScheduleExpression"] == "rate(360 minutes)"  # AuditRateMinutes' default
    assert (
        cfn.properties("AuditFunction")["Environment"]["Variables"]["AUDIT_PERIOD_SECONDS"] == 21600
    )
    env = cfn.properties("AuditFunction")["Environment"]["Variables"]
    groups = [cfn.properties(g)["LogGroupName"] for g in ("IngestLogGroup", "RetryLogGroup")]
    assert env["AUDIT_LOG_GROUPS"] == ",".join(groups)
    assert env["RETRY_WINDOW_SECONDS"] == cfn.parameters["RetryWindowSeconds"]


def test_a_silent_audit_alarms(cfn: Any) -> None:
    """No EventsAudited for two hourly runs (failed or not scheduled) breaches."""
    alarm = cfn.properties("AuditNotReportingAlarm")
    assert (alarm["MetricName"], alarm["Statistic"], alarm["Period"]) == (
        "EventsAudited", "SampleCount", 21600
    )  # fmt: skip
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("LessThanThreshold", 1)
    assert alarm["TreatMissingData"] == "breaching"
    assert (alarm["EvaluationPeriods"], alarm["AlarmName"]) == (
        2,
        "richpanel-destination-audit-not-reporting",
    )
