"""Tests of the handler loader, the local API server and the SQS poller (temporary handlers)."""

from __future__ import annotations

import base64
import json
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local.api import ApiTarget, LocalApi
from local.lambda_runtime import LambdaContext, LocalFunction, load_function
from local.poller import SqsPoller, failed_message_ids
from local.sqs import LocalSqs
from local.template import FunctionSpec, ResolveContext, SqsEventSource


def make_spec(code_dir: Path, layer_dir: Path | None = None, timeout: int = 5) -> FunctionSpec:
    """A FunctionSpec for a handler written under tmp_path."""
    return FunctionSpec(
        logical_id=code_dir.name.capitalize() + "Function",
        code_uri=code_dir,
        handler="app.lambda_handler",
        runtime="python3.12",
        timeout=timeout,
        memory_size=128,
        environment={},
        layer_dirs=(layer_dir,) if layer_dir else (),
        function_name=None,
        events={},
    )


def write(path: Path, text: str) -> Path:
    """Write dedented text, creating directories."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_handlers_with_same_module_names_load_apart(tmp_path: Path) -> None:
    """Two app.py (each importing its own helper.py) and a shared layer package load apart."""
    layer = tmp_path / "layer"
    write(layer / "shared_pkg_for_test" / "__init__.py", "NAME = 'layer'\n")
    for name in ("one", "two"):
        write(tmp_path / name / "helper.py", f"WHO = {name!r}\n")
        write(
            tmp_path / name / "app.py",
            """
            import helper
            import shared_pkg_for_test

            def lambda_handler(event, context):
                return {
                    "who": helper.WHO,
                    "layer": shared_pkg_for_test.NAME,
                    "fn": context.function_name,
                    "remaining": context.get_remaining_time_in_millis(),
                }
            """,
        )
    context = ResolveContext()
    one = load_function(make_spec(tmp_path / "one", layer), context)
    two = load_function(make_spec(tmp_path / "two", layer), context)
    assert one.invoke({})["who"] == "one"
    result = two.invoke({})
    assert result["who"] == "two"
    assert result["layer"] == "layer"
    assert result["fn"] == "richpanel-destination-local-TwoFunction"
    assert 0 < result["remaining"] <= 5000
    assert str(tmp_path / "one") not in sys.path
    assert "helper" not in sys.modules


def test_lambda_context_counts_down() -> None:
    """get_remaining_time_in_millis starts at the timeout and decreases."""
    context = LambdaContext("fn", "arn:aws:lambda:us-east-1:123456789012:function:fn", 256, 2)
    assert 1900 < context.get_remaining_time_in_millis() <= 2000
    assert context.function_version == "$LATEST"
    assert context.log_group_name == "/aws/lambda/fn"
    assert context.aws_request_id


# --------------------------------------------------------------------------- API


@pytest.fixture
def api() -> Iterator[tuple[LocalApi, list[dict[str, Any]]]]:
    """A LocalApi with an echo route, a failing route and a malformed route."""
    seen: list[dict[str, Any]] = []

    def echo(event: dict[str, Any]) -> dict[str, Any]:
        seen.append(event)
        return {
            "statusCode": 201,
            "headers": {"X-One": "1"},
            "multiValueHeaders": {"X-Many": ["a", "b"]},
            "body": json.dumps({"ok": True}),
        }

    def boom(event: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("handler failure for the test")

    targets = [
        ApiTarget("post", "/v1/track", echo),
        ApiTarget("POST", "/v1/boom", boom),
        ApiTarget("POST", "/v1/bad", lambda event: {"statusCode": 200, "body": {"no": "string"}}),
        ApiTarget("GET", "/items/{id}", echo),
    ]
    server = LocalApi(targets, stage="live", port=0).start()
    yield server, seen
    server.stop()


def test_api_builds_rest_proxy_event(api: tuple[LocalApi, list[dict[str, Any]]]) -> None:
    """The event has the REST v1 shape and the response is translated back."""
    server, seen = api
    response = requests.post(
        f"{server.url}/v1/track?a=1&a=2", json={"x": "é"}, headers={"X-Test": "t"}, timeout=5
    )
    assert response.status_code == 201
    assert response.json() == {"ok": True}
    assert response.headers["X-One"] == "1"
    assert response.headers["X-Many"] == "a, b"
    event = seen[-1]
    assert event["resource"] == "/v1/track"
    assert event["path"] == "/v1/track"
    assert event["httpMethod"] == "POST"
    assert event["headers"]["X-Test"] == "t"
    assert event["multiValueHeaders"]["X-Test"] == ["t"]
    assert event["queryStringParameters"] == {"a": "2"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"]}
    assert event["pathParameters"] is None
    assert event["stageVariables"] is None
    assert json.loads(event["body"]) == {"x": "é"}
    assert event["isBase64Encoded"] is False
    request_context = event["requestContext"]
    assert request_context["stage"] == "live"
    assert request_context["path"] == "/live/v1/track"
    assert request_context["resourcePath"] == "/v1/track"
    assert request_context["identity"]["sourceIp"] == "127.0.0.1"
    assert request_context["accountId"] == "123456789012"
    assert isinstance(request_context["requestTimeEpoch"], int)


def test_api_query_absent_binary_body_and_path_params(
    api: tuple[LocalApi, list[dict[str, Any]]],
) -> None:
    """No query -> None; non-UTF-8 body -> base64; {id} fills pathParameters."""
    server, seen = api
    requests.post(f"{server.url}/v1/track", data=b"\xff\xfe", timeout=5)
    event = seen[-1]
    assert event["queryStringParameters"] is None
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xfe"
    requests.post(
        f"{server.url}/v1/track", data=b"{}", headers={"Content-Encoding": "gzip"}, timeout=5
    )
    assert seen[-1]["isBase64Encoded"] is True
    assert requests.get(f"{server.url}/items/42", timeout=5).status_code == 201
    assert seen[-1]["pathParameters"] == {"id": "42"}
    assert seen[-1]["resource"] == "/items/{id}"


def test_api_gateway_errors(api: tuple[LocalApi, list[dict[str, Any]]]) -> None:
    """Unknown path or wrong method 403 (as API Gateway), handler error or bad response 502."""
    server, _ = api
    missing = requests.post(f"{server.url}/v1/nothing", json={}, timeout=5)
    assert (missing.status_code, missing.json()) == (
        403,
        {"message": "Missing Authentication Token"},
    )
    wrong_method = requests.get(f"{server.url}/v1/track", timeout=5)
    assert wrong_method.status_code == 403
    assert wrong_method.json() == {"message": "Missing Authentication Token"}
    failing = requests.post(f"{server.url}/v1/boom", json={}, timeout=5)
    assert (failing.status_code, failing.json()) == (502, {"message": "Internal server error"})
    assert requests.post(f"{server.url}/v1/bad", json={}, timeout=5).status_code == 502


# --------------------------------------------------------------------------- poller


@pytest.fixture
def sqs() -> Iterator[Any]:
    """A moto server and a client on it."""
    server = LocalSqs(port=0)
    server.start()
    yield server.client("us-east-1")
    server.stop()


def source(**overrides: Any) -> SqsEventSource:
    """An SQS event source like the template's retry one."""
    settings: dict[str, Any] = {
        "event_id": "Messages",
        "queue": {"Fn::GetAtt": ["Queue", "Arn"]},
        "batch_size": 10,
        "maximum_batching_window_seconds": 0,
        "function_response_types": ("ReportBatchItemFailures",),
        "maximum_concurrency": 2,
        "enabled": True,
    }
    settings.update(overrides)
    return SqsEventSource(**settings)


def recording_function(behaviour: Any) -> tuple[LocalFunction, list[dict[str, Any]]]:
    """A LocalFunction whose handler records events and returns behaviour(event)."""
    events: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> Any:
        events.append(event)
        return behaviour(event)

    spec = make_spec(Path("/nonexistent/retry"))
    return LocalFunction(spec, handler, "fn", "arn:fn"), events


def make_queue(sqs: Any) -> tuple[str, str]:
    """A queue with a 1 s visibility timeout; returns (url, arn)."""
    name = f"poll-test-{uuid.uuid4().hex[:8]}"  # moto's state is shared by the whole process
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def in_queue(sqs: Any, url: str) -> int:
    """Visible + in-flight messages."""
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_poller_builds_lambda_event_and_deletes_all_but_failures(sqs: Any) -> None:
    """Records have Lambda's shape; only batchItemFailures stay on the queue."""
    url, arn = make_queue(sqs)
    sqs.send_message(
        QueueUrl=url,
        MessageBody="keep",
        MessageAttributes={"reason": {"DataType": "String", "StringValue": "r"}},
    )
    sqs.send_message(QueueUrl=url, MessageBody="done")

    def fail_keep(event: dict[str, Any]) -> dict[str, Any]:
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "keep"
            ]
        }

    function, events = recording_function(fail_keep)
    poller = SqsPoller(function, source(), url, arn, lambda: sqs, "us-east-1")
    handled = 0
    while handled < 2:
        handled += poller.poll_once(sqs)
    records = [record for event in events for record in event["Records"]]
    keep = next(r for r in records if r["body"] == "keep")
    assert keep["eventSource"] == "aws:sqs"
    assert keep["eventSourceARN"] == arn
    assert keep["awsRegion"] == "us-east-1"
    assert keep["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(
        keep["attributes"]
    )
    assert keep["messageAttributes"]["reason"] == {
        "stringValue": "r",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert keep["md5OfBody"]
    assert in_queue(sqs, url) == 1


def test_poller_keeps_everything_when_handler_raises(sqs: Any) -> None:
    """A handler exception deletes nothing."""
    url, arn = make_queue(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="x")

    def explode(event: dict[str, Any]) -> None:
        raise RuntimeError("poller test failure")

    function, _ = recording_function(explode)
    poller = SqsPoller(function, source(), url, arn, lambda: sqs, "us-east-1")
    while not poller.poll_once(sqs):
        pass
    assert in_queue(sqs, url) == 1


def test_poller_threads_start_and_stop(sqs: Any) -> None:
    """Workers drain the queue in the background and stop cleanly."""
    url, arn = make_queue(sqs)
    for index in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=str(index))
    function, events = recording_function(lambda event: None)
    poller = SqsPoller(function, source(), url, arn, lambda: sqs, "us-east-1").start()
    assert poller.workers == 2
    try:
        for _ in range(100):
            if in_queue(sqs, url) == 0:
                break
            time.sleep(0.1)
    finally:
        poller.stop()
    assert not poller.running
    assert in_queue(sqs, url) == 0
    assert sorted(r["body"] for e in events for r in e["Records"]) == ["0", "1", "2", "3", "4"]


def test_failed_message_ids_follows_lambda_rules() -> None:
    """Empty/None responses succeed; unknown or empty identifiers fail the whole batch."""
    ids = ["a", "b"]
    assert failed_message_ids(None, ids) == set()
    assert failed_message_ids({}, ids) == set()
    assert failed_message_ids({"batchItemFailures": []}, ids) == set()
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "b"}]}, ids) == {"b"}
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "zz"}]}, ids) == {
        "a",
        "b",
    }
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": ""}]}, ids) == {"a", "b"}
    assert failed_message_ids("nonsense", ids) == {"a", "b"}
