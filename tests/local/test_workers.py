"""Worker processes per function (local/workers.py): the pool, then the stack with a hang.

The pool tests run temporary handlers in real worker processes. The last test starts
`python -m local.run` (process workers, its default) with the Richpanel sandbox hanging and
the retry queue full, and checks that ingest answers are not held up by the retry batches.
"""

from __future__ import annotations

import json
import os
import statistics
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local.api import ApiTarget, LocalApi
from local.template import FunctionSpec, Template
from local.workers import (
    API_WORKERS_VARIABLE,
    DEFAULT_API_WORKERS,
    InvocationError,
    WorkerError,
    WorkerPool,
    pool_sizes,
)
from richpanel_destination.delivery.queues import envelope

HANDLER = """
import json, os, sys, time

print("loaded", os.getpid(), flush=True)

def lambda_handler(event, context):
    action = event.get("action") or json.loads(event.get("body") or "{}").get("action")
    if action == "raise":
        raise ValueError("boom for the test")
    if action == "exit":
        os._exit(3)
    if action == "print":
        for index in range(event["lines"]):
            print(json.dumps({"worker": os.getpid(), "index": index, "pad": "x" * event["pad"]}))
        sys.stdout.write("no newline at the end")
        time.sleep(event.get("hold", 0))  # still busy: a concurrent invocation takes another worker
    if action == "sleep":
        time.sleep(event["seconds"])
    if action == "object":
        return object()
    return {
        "pid": os.getpid(),
        "event": event,
        "variable": os.environ.get("WORKER_TEST_VARIABLE"),
        "function_name": context.function_name,
        "arn": context.invoked_function_arn,
        "memory": context.memory_limit_in_mb,
        "request_id": context.aws_request_id,
        "remaining": context.get_remaining_time_in_millis(),
    }
"""


def make_pool(tmp_path: Path, size: int = 1, source: str = HANDLER) -> WorkerPool:
    """A pool (not started) of the handler source written under tmp_path."""
    code = tmp_path / "fn"
    code.mkdir(exist_ok=True)
    (code / "app.py").write_text(textwrap.dedent(source), encoding="utf-8")
    spec = FunctionSpec(
        logical_id="TestFunction",
        code_uri=code,
        handler="app.lambda_handler",
        runtime="python3.12",
        timeout=5,
        memory_size=128,
        environment={},
        layer_dirs=(),
        function_name=None,
        events={},
    )
    environment = {**os.environ, "WORKER_TEST_VARIABLE": "from the stack"}
    return WorkerPool(spec, "stack-TestFunction", "arn:fn", size, environment)


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[WorkerPool]:
    started = make_pool(tmp_path, size=2).start()
    started.wait_ready()
    yield started
    started.stop()


def test_a_worker_runs_the_handler_in_its_own_process_with_the_stack_environment(
    pool: WorkerPool,
) -> None:
    result = pool.invoke({"hello": ["json", 1]})

    assert result["pid"] != os.getpid()
    assert result["event"] == {"hello": ["json", 1]}
    assert result["variable"] == "from the stack"
    assert (result["function_name"], result["arn"], result["memory"]) == (
        "stack-TestFunction",
        "arn:fn",
        128,
    )
    assert 4000 < result["remaining"] <= 5000
    assert pool.invoke({})["request_id"] != result["request_id"]
    assert pool.invoke({})["pid"] == result["pid"]  # warm: the same worker, loaded once


def test_a_handler_error_surfaces_as_an_exception_with_the_workers_traceback(
    pool: WorkerPool,
) -> None:
    with pytest.raises(InvocationError) as raised:
        pool.invoke({"action": "raise"})

    assert raised.value.error_type == "ValueError"
    assert raised.value.error_message == "boom for the test"
    assert 'app.py", line' in raised.value.remote_traceback
    assert pool.invoke({})["event"] == {}  # the worker keeps serving


def test_a_result_that_is_not_json_is_an_error(pool: WorkerPool) -> None:
    with pytest.raises(InvocationError, match="not JSON serializable"):
        pool.invoke({"action": "object"})


def test_the_api_answers_502_when_the_handler_raises_in_a_worker(pool: WorkerPool) -> None:
    api = LocalApi([ApiTarget("POST", "/v1/boom", pool.invoke)], stage="live", port=0).start()
    try:
        answer = requests.post(f"{api.url}/v1/boom", json={"action": "raise"}, timeout=10)
    finally:
        api.stop()
    assert answer.status_code == 502
    assert answer.json() == {"message": "Internal server error"}


def test_a_worker_that_dies_fails_its_invocation_and_is_replaced(pool: WorkerPool) -> None:
    first = pool.invoke({})["pid"]

    with pytest.raises(WorkerError, match="exited"):
        pool.invoke({"action": "exit"})

    pids = {pool.invoke({})["pid"] for _ in range(3)}
    assert first not in pids


def test_a_handler_that_cannot_load_fails_the_cold_start(tmp_path: Path) -> None:
    broken = make_pool(tmp_path, source="raise ImportError('missing dependency for the test')\n")
    broken.start()
    try:
        with pytest.raises(WorkerError, match="missing dependency for the test"):
            broken.wait_ready()
    finally:
        broken.stop()


def test_invocations_run_in_parallel_and_the_pool_scales_out_to_its_size(
    tmp_path: Path,
) -> None:
    pool = make_pool(tmp_path, size=2).start()
    try:
        pool.wait_ready()
        assert pool.started == 1  # one warm worker; the second on demand
        results: list[dict[str, Any]] = []
        started = time.monotonic()
        threads = [
            threading.Thread(
                target=lambda: results.append(pool.invoke({"action": "sleep", "seconds": 1.5}))
            )
            for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        elapsed = time.monotonic() - started
    finally:
        pool.stop()
    assert pool.started == 2
    assert len({result["pid"] for result in results}) == 2
    assert 3.0 <= elapsed < 4.4  # two at once, the third after one of them: not 4.5 s


def test_output_reaches_stdout_line_by_line_before_the_result(
    pool: WorkerPool, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    # lines longer than a pipe's buffer; held so that the two overlap even on a loaded machine
    event = {"action": "print", "lines": 20, "pad": 20_000, "hold": 1.0}
    threads = [threading.Thread(target=pool.invoke, args=(event,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    lines = capsys.readouterr().out.splitlines()  # read once both invocations have returned
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(records) == 40
    assert {len(record["pad"]) for record in records} == {20_000}
    assert len({record["worker"] for record in records}) == 2
    assert lines.count("no newline at the end") == 2


def test_pool_sizes_follow_the_event_source_mapping_and_the_api_setting() -> None:
    template = Template.load()
    specs = list(template.functions().values())
    retry = template.sqs_event_source("RetryFunction")
    assert retry is not None and retry.maximum_concurrency

    sizes = pool_sizes(template, specs, {})

    assert sizes["RetryFunction"] == retry.maximum_concurrency
    assert sizes["IngestFunction"] == DEFAULT_API_WORKERS
    assert sizes["CanaryFunction"] == 1
    assert pool_sizes(template, specs, {API_WORKERS_VARIABLE: "5"})["IngestFunction"] == 5
    with pytest.raises(ValueError, match=API_WORKERS_VARIABLE):
        pool_sizes(template, specs, {API_WORKERS_VARIABLE: "0"})


# --------------------------------------------------------------------------- the stack

SEND_TIMEOUT_SECONDS = 1.0  # RICHPANEL_READ_TIMEOUT_SECONDS: what a hung call costs ingest
REQUESTS = 8


def fill_retry_queue(stack: Any, count: int) -> None:
    """Parked events the retry function will try (and hang on) again and again."""
    url = stack.queue_url("RetryQueue")
    for start in range(0, count, 10):
        entries = []
        for index in range(start, min(count, start + 10)):
            event = {"type": "track", "event": "Parked", "userId": "u-1", "messageId": f"p-{index}"}
            entries.append(
                {
                    "Id": str(index - start),
                    "MessageBody": envelope(event, 1, "Richpanel answered 503"),
                    "MessageAttributes": {
                        "messageId": {"DataType": "String", "StringValue": event["messageId"]},
                        "attempt": {"DataType": "Number", "StringValue": "1"},
                    },
                }
            )
        stack.sqs.send_message_batch(QueueUrl=url, Entries=entries)


def test_ingest_answers_are_not_held_up_by_retries_hanging_on_richpanel(
    tmp_path: Path,
) -> None:
    from tests.integration.conftest import running_stack, wait_for

    environment = {
        "RICHPANEL_READ_TIMEOUT_SECONDS": str(SEND_TIMEOUT_SECONDS),
        "BREAKER_FAILURES": "0",  # no circuit breaker: every call waits for the timeout
        "RETRY_BACKOFF_BASE_SECONDS": "0.1",
    }
    with running_stack(tmp_path, environment) as stack:
        stack.set_behaviour(delay_ms=8000)
        fill_retry_queue(stack, 40)
        wait_for(  # both retry workers hold a batch (MaximumConcurrency 2)
            lambda: stack.queue_counts("RetryQueue")["in_flight"] >= 20,
            timeout=20,
            what="two retry batches in flight",
        )
        times = []
        for index in range(REQUESTS):
            started = time.monotonic()
            answer = stack.post(
                "/v1/track",
                {"type": "track", "event": "E", "userId": "u-2", "messageId": f"w-{index}"},
            )
            times.append(time.monotonic() - started)
            assert answer.status_code == 200, answer.text  # parked for the retry function
        busy = stack.queue_counts("RetryQueue")["in_flight"]
        log = stack.log_path.read_text(encoding="utf-8")

    assert busy > 0  # the retry function was still at it
    assert max(times) < SEND_TIMEOUT_SECONDS + 1.5, times
    assert statistics.median(times[-3:]) < statistics.median(times[:3]) + 0.5, times
    assert "workers: process" in log
    json_lines = [line for line in log.splitlines() if line.startswith("{")]
    assert any("RetryFunction" in line for line in json_lines)
    for line in json_lines:
        json.loads(line)  # whole lines: workers' output never mixes mid-line
