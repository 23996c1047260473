"""The retry Lambda's handler on built SQS events, with Richpanel and SQS as test doubles.

Issue 13, point 4: a batch of slow sends must not outlive the invocation.
"""

from __future__ import annotations

import copy
import importlib.util
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from richpanel_destination import retry, runtime
from richpanel_destination.delivery.queues import envelope
from richpanel_destination.richpanel.outcomes import Kind, Outcome
from richpanel_destination.secrets import RichpanelCredentials
from richpanel_destination.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((ROOT / "events" / "retry_sqs.json").read_text(encoding="utf-8"))
OK = Outcome(Kind.DELIVERED, "Richpanel answered 200", 200)
CREDENTIALS = RichpanelCredentials("key-1", "secret-1")


def load_retry_app() -> Any:
    spec = importlib.util.spec_from_file_location(
        "_retry_handler_app", ROOT / "functions" / "retry" / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class Context:
    function_name = "RetryFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:RetryFunction"
    memory_limit_in_mb = 256
    aws_request_id = "req-1"
    log_group_name = "/aws/lambda/RetryFunction"
    log_stream_name = "test"

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self.ends - time.monotonic()) * 1000)


class SlowRichpanel:
    """Answers 200 after ``delay`` seconds, or times out when given less time than that."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.given: list[float | None] = []

    def held(self) -> Outcome | None:
        return None  # no breaker, no pause

    def send(self, call: Any, credentials: Any, within: float | None = None) -> Outcome:
        self.given.append(within)
        if within is not None and within < self.delay:
            time.sleep(within)
            return Outcome(Kind.RETRYABLE, "ReadTimeout: timed out")
        time.sleep(self.delay)
        return OK


class Queues:
    def __init__(self) -> None:
        self.dead: list[str] = []
        self.postponed: list[tuple[str, int]] = []

    def to_dead_letter(self, body: str, reason: str, **_: Any) -> None:
        self.dead.append(reason)

    def postpone(self, receipt_handle: str, seconds: int) -> None:
        self.postponed.append((receipt_handle, seconds))

    def postpone_many(self, postpones: list[tuple[str, int]]) -> int:
        self.postponed.extend(postpones)
        return 0


def sqs_event(count: int) -> dict[str, Any]:
    records = []
    for i in range(count):
        record = copy.deepcopy(SAMPLE["Records"][0])
        event = {"type": "track", "messageId": f"r-{i}", "userId": "u", "event": "E"}
        record |= {"messageId": f"sqs-{i}", "receiptHandle": f"rh-{i}"}
        record["body"] = envelope(event, 1, "Richpanel answered 503")
        record["messageAttributes"]["messageId"]["stringValue"] = event["messageId"]
        records.append(record)
    return {"Records": records}


@pytest.fixture
def retry_app(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Test")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "test")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    runtime.reset()
    monkeypatch.setattr(runtime, "richpanel_credentials", lambda: CREDENTIALS)
    yield load_retry_app()
    monkeypatch.undo()  # the runtime's own factories back before they are reset
    runtime.reset()


def test_a_batch_of_slow_sends_ends_within_the_invocation(
    retry_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    richpanel, queues = SlowRichpanel(delay=2.0), Queues()
    monkeypatch.setattr(runtime, "richpanel", lambda: richpanel)
    monkeypatch.setattr(runtime, "queues", lambda: queues)
    monkeypatch.setattr(runtime, "settings", lambda: Settings(max_receive_count=8))
    monkeypatch.setattr(runtime, "dedupe", lambda: None)
    started = time.monotonic()
    answer = retry_app.lambda_handler(sqs_event(10), Context(seconds=6.0))
    took = time.monotonic() - started
    # ten 2 s sends one after another would take 20 s against a 6 s invocation
    assert answer == {"batchItemFailures": []}
    assert len(richpanel.given) == 10 and took < 6.0 - retry.AFTER_SEND_SECONDS + 0.5
    assert all(w is not None and w <= 6.0 for w in richpanel.given)


def test_records_that_cannot_be_sent_in_time_go_back_at_once_without_a_false_reason(
    retry_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    richpanel, queues = SlowRichpanel(delay=0.0), Queues()
    monkeypatch.setattr(runtime, "richpanel", lambda: richpanel)
    monkeypatch.setattr(runtime, "queues", lambda: queues)
    monkeypatch.setattr(runtime, "settings", lambda: Settings(max_receive_count=8))
    monkeypatch.setattr(runtime, "dedupe", lambda: None)
    answer = retry_app.lambda_handler(sqs_event(3), Context(seconds=1.0))  # too little left
    assert sorted(f["itemIdentifier"] for f in answer["batchItemFailures"]) == [
        "sqs-0",
        "sqs-1",
        "sqs-2",
    ]
    assert richpanel.given == []  # nothing was sent
    assert sorted(queues.postponed) == [("rh-0", 0), ("rh-1", 0), ("rh-2", 0)]
    assert queues.dead == []


def test_on_its_last_receive_a_record_not_sent_in_time_is_dead_lettered_with_its_reason(
    retry_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    richpanel, queues = SlowRichpanel(delay=0.0), Queues()
    monkeypatch.setattr(runtime, "richpanel", lambda: richpanel)
    monkeypatch.setattr(runtime, "queues", lambda: queues)
    monkeypatch.setattr(runtime, "settings", lambda: Settings(max_receive_count=1))
    monkeypatch.setattr(runtime, "dedupe", lambda: None)
    answer = retry_app.lambda_handler(sqs_event(1), Context(seconds=1.0))
    assert answer == {"batchItemFailures": []}
    assert queues.dead == [
        "gave up after 2 attempts: not sent: too little time left in this invocation"
    ]


def test_the_handler_writes_one_compact_outcome_line_per_record(
    retry_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    richpanel, queues = SlowRichpanel(delay=0.0), Queues()
    monkeypatch.setattr(runtime, "richpanel", lambda: richpanel)
    monkeypatch.setattr(runtime, "queues", lambda: queues)
    monkeypatch.setattr(runtime, "settings", lambda: Settings(max_receive_count=8))
    monkeypatch.setattr(runtime, "dedupe", lambda: None)
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-65f2a1b3-0123;Parent=53995c3f;Sampled=1")
    out = io.StringIO()  # the Logger's stream was bound when its module was imported
    previous = retry.logger.registered_handler.setStream(out)
    try:
        retry_app.lambda_handler(sqs_event(2), Context(seconds=6.0))
    finally:
        retry.logger.registered_handler.setStream(previous)
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    outcomes = [line for line in lines if line.get("message") == "event outcome"]
    assert len(outcomes) == 2
    base = {"level", "message", "messageId", "userId", "type", "outcome", "attempt",
            "richpanelStatus"}  # fmt: skip
    first = base | {"function_request_id", "xray_trace_id"}  # once per invocation
    assert sorted(set(line) for line in outcomes) == sorted([base, first], key=len)
    assert {line["xray_trace_id"] for line in outcomes if "xray_trace_id" in line} == {
        "1-65f2a1b3-0123"
    }
