"""Tests of local/template.py (against the real template.yaml), the SQS setup and the sandbox."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.run import ConfigurationError, merged_environment
from local.sandbox import Sandbox, start_sandbox
from local.sqs import LocalSqs, create_template_queues, queue_attributes
from local.template import (
    REPO_ROOT,
    ApiRoute,
    ResolveContext,
    Template,
    TemplateError,
    load_yaml,
)

DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:richpanel-destination-local-dlq"
RETRY_ARN = "arn:aws:sqs:us-east-1:123456789012:richpanel-destination-local-retry"


@pytest.fixture(scope="module")
def template() -> Template:
    """The repository's template.yaml."""
    return Template.load()


# --------------------------------------------------------------------------- loader / resolver


def test_short_tags_become_long_form() -> None:
    """!Ref, !GetAtt (scalar and list), !Sub and nested !If parse to JSON form."""
    data = load_yaml(
        "a: !Ref P\n"
        "b: !GetAtt Queue.Arn\n"
        "c: !GetAtt [Queue, QueueName]\n"
        "d: !Sub '${AWS::StackName}-x'\n"
        "e: !If [Cond, !Ref P, !Join ['-', [x, y]]]\n"
    )
    assert data == {
        "a": {"Ref": "P"},
        "b": {"Fn::GetAtt": ["Queue", "Arn"]},
        "c": {"Fn::GetAtt": ["Queue", "QueueName"]},
        "d": {"Fn::Sub": "${AWS::StackName}-x"},
        "e": {"Fn::If": ["Cond", {"Ref": "P"}, {"Fn::Join": ["-", ["x", "y"]]}]},
    }


def test_resolver_sub_ref_getatt() -> None:
    """Sub handles pseudo params, parameters, Resource.Attr, bare resources and ${!x}."""
    context = ResolveContext(
        parameters={"Stage": "live"},
        refs={"Api": "abc123"},
        attributes={"Queue": {"Arn": "arn:q"}},
    )
    text = (
        "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${AWS::StackName}"
        " https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${Stage} ${Queue.Arn}"
        " ${!Literal} ${X}"
    )
    resolved = context.resolve({"Fn::Sub": [text, {"X": {"Ref": "Stage"}}]})
    assert resolved == (
        "arn:aws:sqs:us-east-1:123456789012:richpanel-destination-local"
        " https://abc123.execute-api.us-east-1.amazonaws.com/live arn:q ${Literal} live"
    )
    assert context.resolve({"Fn::GetAtt": ["Queue", "Arn"]}) == "arn:q"
    with pytest.raises(TemplateError):
        context.resolve({"Ref": "Unknown"})


# --------------------------------------------------------------------------- template views


def test_api_routes_come_from_function_events(template: Template) -> None:
    """Every Api event is a route with an upper-case method."""
    routes = template.api_routes()
    assert ApiRoute("POST", "/v1/track", "IngestFunction") in routes
    assert ApiRoute("POST", "/v1/identify", "IngestFunction") in routes
    assert len(routes) == len(set(routes)) >= 4
    assert all(route.method == route.method.upper() for route in routes)
    assert template.api_stage_name(template.context()) == "live"


def test_function_specs_merge_globals(template: Template) -> None:
    """Globals.Function settings and env vars merge under each function's own."""
    ingest = template.function_spec("IngestFunction")
    retry = template.function_spec("RetryFunction")
    assert ingest.code_uri == REPO_ROOT / "functions" / "ingest"
    assert ingest.handler == "app.lambda_handler"
    assert (ingest.timeout, retry.timeout) == (10, 30)
    assert ingest.memory_size == retry.memory_size == 256
    assert ingest.layer_dirs == retry.layer_dirs == (REPO_ROOT / "layers" / "common",)
    assert retry.environment["RETRY_QUEUE_URL"] == {"Ref": "RetryQueue"}
    assert retry.environment["RETRY_BACKOFF_BASE_SECONDS"] == "10"
    assert "RETRY_BACKOFF_BASE_SECONDS" not in ingest.environment
    globals_env = set(template.data["Globals"]["Function"]["Environment"]["Variables"])
    assert globals_env < set(ingest.environment)
    assert globals_env < set(retry.environment)
    assert "DELIVERY_BUDGET_SECONDS" in ingest.environment


def test_sqs_event_source(template: Template) -> None:
    """The retry function's SQS event source settings are read from the template."""
    source = template.sqs_event_source("RetryFunction")
    assert source is not None
    assert source.queue_logical_id == "RetryQueue"
    assert source.batch_size == 10
    assert source.reports_batch_item_failures
    assert source.maximum_concurrency == 2
    assert template.sqs_event_source("IngestFunction") is None


def test_queue_order_and_attributes(template: Template) -> None:
    """The DLQ is created first; attributes carry resolved names and ARNs."""
    order = template.queue_creation_order()
    assert order.index("DeadLetterQueue") < order.index("RetryQueue")
    context = template.context()
    for logical_id in template.queues():
        name = template.queue_name(logical_id, context)
        context.attributes[logical_id] = {
            "Arn": f"arn:aws:sqs:us-east-1:123456789012:{name}",
            "QueueName": name,
        }
    retry = queue_attributes(template, "RetryQueue", context)
    assert retry["VisibilityTimeout"] == "186"
    assert retry["SqsManagedSseEnabled"] == "true"
    redrive = json.loads(retry["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == DLQ_ARN
    assert int(redrive["maxReceiveCount"]) == 150  # RetryMaxReceiveCount: only a backstop
    dlq = queue_attributes(template, "DeadLetterQueue", context)
    assert dlq["MessageRetentionPeriod"] == "1209600"
    assert json.loads(dlq["RedriveAllowPolicy"])["sourceQueueArns"] == [RETRY_ARN]


def test_queues_created_in_moto(template: Template) -> None:
    """create_template_queues makes both queues with the redrive policy on moto."""
    sqs = LocalSqs(port=0)
    sqs.start()
    try:
        client = sqs.client("us-east-1")
        context = template.context()
        queues = create_template_queues(client, template, context)
        assert set(queues) == {"RetryQueue", "DeadLetterQueue"}
        assert queues["DeadLetterQueue"].arn == DLQ_ARN
        assert context.resolve({"Ref": "RetryQueue"}) == queues["RetryQueue"].url
        attributes = client.get_queue_attributes(
            QueueUrl=queues["RetryQueue"].url, AttributeNames=["All"]
        )["Attributes"]
        assert attributes["VisibilityTimeout"] == "186"
        assert json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"] == DLQ_ARN
    finally:
        sqs.stop()


def test_merged_environment_overrides_and_conflicts(template: Template) -> None:
    """Runner env wins for declared names; differing values across functions are an error."""
    specs = list(template.functions().values())
    context = template.context(
        {
            "RichpanelSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rp",
            "InboundSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:in",
        }
    )
    context.refs.update(
        {
            "RetryQueue": "http://q/retry",
            "DeadLetterQueue": "http://q/dlq",
            "IdempotencyTable": "idem",
            "FreshnessTable": "marks",
        }
    )
    env = merged_environment(specs, context, {"RETRY_BACKOFF_BASE_SECONDS": "0.2"})
    assert env["RETRY_BACKOFF_BASE_SECONDS"] == "0.2"
    assert env["RETRY_QUEUE_URL"] == "http://q/retry"
    assert env["RICHPANEL_SECRET_ARN"] == "arn:aws:secretsmanager:us-east-1:123456789012:secret:rp"
    assert env["RICHPANEL_SIGNING"] == "md5"
    clash = Template(
        {
            "Resources": {
                "A": {
                    "Type": "AWS::Serverless::Function",
                    "Properties": {
                        "CodeUri": "a/",
                        "Handler": "app.h",
                        "Environment": {"Variables": {"X": "1"}},
                    },
                },
                "B": {
                    "Type": "AWS::Serverless::Function",
                    "Properties": {
                        "CodeUri": "b/",
                        "Handler": "app.h",
                        "Environment": {"Variables": {"X": "2"}},
                    },
                },
            }
        },
        REPO_ROOT,
    )
    clash_specs = list(clash.functions().values())
    with pytest.raises(ConfigurationError):
        merged_environment(clash_specs, clash.context(), {})
    assert merged_environment(clash_specs, clash.context(), {"X": "3"}) == {"X": "3"}


# --------------------------------------------------------------------------- sandbox

KEY = "test-key"
SECRET = "test-secret"


def encode(call: dict[str, Any]) -> str:
    """base64 of the UTF-8 JSON of a call (independent of the project's encoder)."""
    return base64.b64encode(json.dumps(call).encode("utf-8")).decode("ascii")


def signed(field: str, payload: dict[str, Any], secret: str = SECRET) -> dict[str, str]:
    """A /t or /bt body signed md5(b64 + secret)."""
    encoded = encode(payload)
    return {field: encoded, "s": hashlib.md5((encoded + secret).encode()).hexdigest()}


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A signed (md5) sandbox on a free port."""
    server = start_sandbox(KEY, SECRET, "md5", port=0)
    yield server
    server.stop()


@pytest.fixture
def strict_sandbox() -> Iterator[Sandbox]:
    """A signed (md5) sandbox in strict mode: 401 for a wrong key or signature."""
    server = start_sandbox(KEY, SECRET, "md5", port=0, strict=True)
    yield server
    server.stop()


def call(**extra: Any) -> dict[str, Any]:
    """A minimal valid track call."""
    return {"appClientId": KEY, "event": "track", "userProperties": {"uid": "u1"}, **extra}


def test_sandbox_accepts_and_records_signed_call(sandbox: Sandbox) -> None:
    """A correctly signed call answers 200 and is recorded decoded."""
    response = requests.post(f"{sandbox.url}/v2/t", json=signed("h", call()), timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    calls = requests.get(f"{sandbox.url}/_sandbox/calls", timeout=5).json()["calls"]
    assert len(calls) == 1
    assert calls[0]["status"] == 200
    assert calls[0]["signature_valid"] is True
    assert calls[0]["path"] == "/v2/t"
    assert calls[0]["call"]["userProperties"]["uid"] == "u1"
    assert calls[0]["error"] is None


def test_sandbox_rejections(strict_sandbox: Sandbox) -> None:
    """Strict mode: wrong key, bad signature (401), no uid, undecodable h: recorded failures."""
    sandbox = strict_sandbox
    url = f"{sandbox.url}/v3/t"
    wrong_key = requests.post(url, json=signed("h", call(appClientId="other")), timeout=5)
    assert (wrong_key.status_code, wrong_key.json()) == (401, {"error": "invalid appClientId"})
    bad_sig = requests.post(url, json=signed("h", call(), secret="nope"), timeout=5)
    assert (bad_sig.status_code, bad_sig.json()) == (401, {"error": "invalid signature"})
    unsigned = requests.post(url, json={"h": encode(call())}, timeout=5)
    assert unsigned.status_code == 401
    no_uid = call(event="identify", userProperties={"email": "a@b.c"})
    missing_uid = requests.post(url, json=signed("h", no_uid), timeout=5)
    assert (missing_uid.status_code, missing_uid.json()) == (400, {"error": "uid is required"})
    garbage = requests.post(url, json={"h": "not base64!", "s": "x"}, timeout=5)
    assert garbage.status_code == 400
    calls = requests.get(f"{sandbox.url}/_sandbox/calls", timeout=5).json()["calls"]
    assert [c["status"] for c in calls] == [401, 401, 401, 400, 400]
    assert calls[1]["signature_valid"] is False
    assert calls[4]["call"] is None
    only_400 = requests.get(f"{sandbox.url}/_sandbox/calls?status=400", timeout=5).json()
    assert len(only_400["calls"]) == 2


def test_sandbox_batch_records_each_event(sandbox: Sandbox) -> None:
    """/bt decodes hs and records one entry per event."""
    batch = {"appClientId": KEY, "events": [call(), call(event="page_view")]}
    response = requests.post(f"{sandbox.url}/v2/bt", json=signed("hs", batch), timeout=5)
    assert response.status_code == 200
    calls = requests.get(f"{sandbox.url}/_sandbox/calls", timeout=5).json()["calls"]
    assert [c["call"]["event"] for c in calls] == ["track", "page_view"]
    assert [c["batch_index"] for c in calls] == [0, 1]
    assert requests.delete(f"{sandbox.url}/_sandbox/calls", timeout=5).status_code == 200
    assert requests.get(f"{sandbox.url}/_sandbox/calls", timeout=5).json()["calls"] == []


def test_sandbox_behaviour_once_then_normal(sandbox: Sandbox) -> None:
    """status 503 with times=1 fails exactly one request (recorded), then back to normal."""
    control = f"{sandbox.url}/_sandbox/behaviour"
    set_response = requests.post(
        control, json={"status": 503, "times": 1, "retry_after": 7}, timeout=5
    )
    assert set_response.status_code == 200
    assert requests.get(control, timeout=5).json()["behaviour"]["status"] == 503
    first = requests.post(f"{sandbox.url}/v2/t", json=signed("h", call()), timeout=5)
    second = requests.post(f"{sandbox.url}/v2/t", json=signed("h", call()), timeout=5)
    assert first.status_code == 503
    assert first.headers["Retry-After"] == "7"
    assert second.status_code == 200
    assert requests.get(control, timeout=5).json() == {"behaviour": None}
    calls = requests.get(f"{sandbox.url}/_sandbox/calls", timeout=5).json()["calls"]
    assert [c["status"] for c in calls] == [503, 200]
    assert calls[0]["call"]["appClientId"] == KEY


def test_sandbox_behaviour_latency_only_and_reset(sandbox: Sandbox) -> None:
    """Without status the behaviour only delays; DELETE resets; bad input is a 400."""
    control = f"{sandbox.url}/_sandbox/behaviour"
    requests.post(control, json={"delay_ms": 300}, timeout=5).raise_for_status()
    response = requests.post(f"{sandbox.url}/v2/t", json=signed("h", call()), timeout=5)
    assert response.status_code == 200
    assert response.elapsed.total_seconds() >= 0.3
    assert requests.get(control, timeout=5).json()["behaviour"]["delay_ms"] == 300
    requests.delete(control, timeout=5).raise_for_status()
    assert requests.get(control, timeout=5).json() == {"behaviour": None}
    assert requests.post(control, json={"status": "x"}, timeout=5).status_code == 400
    assert requests.get(f"{sandbox.url}/_sandbox/health", timeout=5).status_code == 200


def test_sandbox_sha256_and_unsigned_modes() -> None:
    """sha256 signing checks sha256(b64 + secret); without a secret nothing is checked."""
    sha = start_sandbox(KEY, SECRET, "sha256", port=0)
    open_box = start_sandbox(KEY, None, "md5", port=0)
    try:
        encoded = encode(call())
        signature = hashlib.sha256((encoded + SECRET).encode()).hexdigest()
        good = requests.post(f"{sha.url}/v2/t", json={"h": encoded, "s": signature}, timeout=5)
        assert good.status_code == 200
        md5_body = signed("h", call())
        assert requests.post(f"{sha.url}/v2/t", json=md5_body, timeout=5).status_code == 200
        dropped = requests.get(f"{sha.url}/_sandbox/calls", timeout=5).json()["calls"][-1]
        assert (dropped["accepted"], dropped["dropped"]) == (False, "invalid signature")
        unsigned = requests.post(f"{open_box.url}/v2/t", json={"h": encoded}, timeout=5)
        assert unsigned.status_code == 200
        entry = requests.get(f"{open_box.url}/_sandbox/calls", timeout=5).json()["calls"][0]
        assert entry["signature_valid"] is None
    finally:
        sha.stop()
        open_box.stop()
