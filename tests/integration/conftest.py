"""Integration fixtures: the whole local stack (`python -m local.run`) in a subprocess.

- `stack` (session): URLs, a boto3 SQS client on moto, queue URLs by template logical id
  and small helpers (sandbox calls / behaviour, queue counts, log tail).
- `_reset_stack` (autouse): normal sandbox, no recorded calls, empty queues before each test.
- `wait_for(predicate, timeout)`: poll until predicate() is truthy (also a fixture).
- `running_stack(workdir, environment, parameters)`: another stack with template variables
  set (a module fixture of its own, e.g. RICHPANEL_BATCH_SIZE in test_batch_transport.py) or
  template parameters (`--parameter`, e.g. ApiKind=http in test_http_api.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from local.secrets import LOCAL_WRITE_KEY  # noqa: E402 - needs REPO_ROOT on sys.path
from local.targets import credentials  # noqa: E402 - needs REPO_ROOT on sys.path
from local.template import LOCAL_REGION, Template  # noqa: E402 - needs REPO_ROOT on sys.path
from tests.processes import stop  # noqa: E402 - needs REPO_ROOT on sys.path

BREAKER_ITEM = "richpanel-destination#breaker"  # delivery/breaker.py ITEM_KEY
BREAKER_CACHE_SECONDS = 2.0  # its default cache_seconds

STARTUP_TIMEOUT_SECONDS = 60
# Fast retries for tests; these names are template-declared variables the runner honours.
# A short read timeout lets the chaos test's "Richpanel hangs" failures end quickly.
TEST_ENVIRONMENT = {
    "RETRY_BACKOFF_BASE_SECONDS": "0.2",
    "RETRY_BACKOFF_CAP_SECONDS": "1",
    "RICHPANEL_READ_TIMEOUT_SECONDS": "0.5",
    "BREAKER_COOLDOWN_SECONDS": "1",
    # the function gives up on the 8th receive (the queue's backstop, 150, is never reached),
    # so an always-failing event reaches the DLQ within a test's time; the window is by age
    "MAX_RECEIVE_COUNT": "8",  # an outage a test causes must not hold the next test
}

T = TypeVar("T")


def sender_session() -> requests.Session:
    """A session that authenticates like a Segment HTTP API sender (Basic write key)."""
    session = requests.Session()
    session.auth = (LOCAL_WRITE_KEY, "")
    return session


def wait_for(
    predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.1, what: str = ""
) -> T:
    """Call predicate until it returns something truthy; return it or fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def _tail(path: Path, size: int = 8000) -> str:
    """Last `size` bytes of a file as text."""
    if not path.exists():
        return "(no log)"
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - size))
        return handle.read().decode("utf-8", "replace")


@dataclass(repr=False)
class Stack:
    """A running local stack."""

    api: str
    sandbox: str
    sqs_endpoint: str
    queues: dict[str, str]
    sqs: Any
    log_path: Path
    process: subprocess.Popen[bytes]
    http: requests.Session = field(default_factory=lambda: sender_session())
    tables: dict[str, str] = field(default_factory=dict)  # logical id -> table name
    ready_file: Path | None = None  # what the stack wrote once ready (ops/trace --local reads it)

    def __repr__(self) -> str:
        """Short form for assertion messages."""
        return f"Stack(api={self.api!r}, sandbox={self.sandbox!r})"

    def queue_url(self, logical_id: str) -> str:
        """URL of a queue by its template logical id."""
        return self.queues[logical_id]

    def sandbox_calls(self, status: int | None = None) -> list[dict[str, Any]]:
        """Entries the Richpanel sandbox recorded (optionally only those answered status)."""
        params = {"status": status} if status is not None else None
        response = self.http.get(f"{self.sandbox}/_sandbox/calls", params=params, timeout=5)
        response.raise_for_status()
        return list(response.json()["calls"])

    def set_behaviour(self, **behaviour: Any) -> None:
        """Make the sandbox misbehave (status, delay_ms, retry_after, times, body)."""
        response = self.http.post(f"{self.sandbox}/_sandbox/behaviour", json=behaviour, timeout=5)
        response.raise_for_status()

    def client(self, service: str) -> Any:
        """A boto3 client of this stack's moto server (SQS, DynamoDB, Secrets Manager, ...)."""
        return boto3.client(
            service, endpoint_url=self.sqs_endpoint, region_name=LOCAL_REGION, **credentials()
        )

    def reset_behaviour(self) -> None:
        """Make the sandbox behave normally again."""
        self.http.delete(f"{self.sandbox}/_sandbox/behaviour", timeout=5).raise_for_status()

    def clear_calls(self) -> None:
        """Forget the sandbox's recorded calls."""
        self.http.delete(f"{self.sandbox}/_sandbox/calls", timeout=5).raise_for_status()

    def queue_counts(self, logical_id: str) -> dict[str, int]:
        """visible / in_flight / delayed message counts of a queue."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url(logical_id), AttributeNames=["All"]
        )["Attributes"]
        return {
            "visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
            "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
        }

    def queue_total(self, logical_id: str) -> int:
        """All messages of a queue, visible or not."""
        return sum(self.queue_counts(logical_id).values())

    def post(self, path: str, payload: Any, **kwargs: Any) -> requests.Response:
        """POST JSON to the local API (path as in the template, e.g. /v1/track)."""
        kwargs.setdefault("timeout", 30)
        return self.http.post(f"{self.api}{path}", json=payload, **kwargs)

    def purge_queues(self) -> None:
        """Empty every queue (moto purges at once, in-flight messages included)."""
        for url in self.queues.values():
            try:
                self.sqs.purge_queue(QueueUrl=url)
            except self.sqs.exceptions.PurgeQueueInProgress:
                self._drain(url)

    def _drain(self, url: str) -> None:
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0
            ).get("Messages", [])
            if not messages:
                return
            for message in messages:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def reset(self) -> None:
        """Normal sandbox, empty queues, no recorded calls."""
        self.reset_behaviour()
        busy = any(self.queue_counts(logical_id)["in_flight"] for logical_id in self.queues)
        self.purge_queues()
        if busy:
            self._wait_sandbox_quiet()
        self.close_breaker()
        self.clear_calls()

    def close_breaker(self) -> None:
        """Forget a circuit breaker an earlier test opened (its item, and the functions' cache
        of it, which lasts up to 2 s), so each test starts with Richpanel reachable."""
        table = self.tables.get("IdempotencyTable")
        if table is None:
            return
        client = self.client("dynamodb")
        key = {"id": {"S": BREAKER_ITEM}}
        if client.get_item(TableName=table, Key=key).get("Item"):
            client.delete_item(TableName=table, Key=key)
            time.sleep(BREAKER_CACHE_SECONDS + 0.1)

    def fresh(self) -> None:
        """Fail the test if the stack has died; else reset it for the next test."""
        if self.process.poll() is not None:
            pytest.fail(f"local stack died (exit {self.process.returncode}):\n{self.log_tail()}")
        self.reset()

    def _wait_sandbox_quiet(self, quiet_for: float = 0.5, timeout: float = 10.0) -> None:
        """Let an invocation that was in flight finish talking to the sandbox."""
        deadline = time.monotonic() + timeout
        count, since = len(self.sandbox_calls()), time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - since < quiet_for:
            time.sleep(0.1)
            current = len(self.sandbox_calls())
            if current != count:
                count, since = current, time.monotonic()

    def log_tail(self, size: int = 8000) -> str:
        """The end of the stack's combined stdout/stderr."""
        return _tail(self.log_path, size)


def _child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment minus every variable the template declares, plus test settings.

    A RICHPANEL_BASE_URL (or other declared variable) exported in the developer's shell
    would otherwise win inside the stack and send test traffic elsewhere. `extra` sets
    template-declared variables for one stack (e.g. RICHPANEL_BATCH_SIZE).
    """
    declared = {name for spec in Template.load().functions().values() for name in spec.environment}
    env = {name: value for name, value in os.environ.items() if name not in declared}
    env.update(TEST_ENVIRONMENT)
    env.update(extra or {})
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextmanager
def running_stack(
    workdir: Path,
    environment: Mapping[str, str] | None = None,
    parameters: Mapping[str, str] | None = None,
) -> Iterator[Stack]:
    """`python -m local.run` on free ports (extra environment, template parameters), stopped
    on exit."""
    ready_file = workdir / "ready.json"
    log_path = workdir / "stack.log"
    command = [
        sys.executable,
        "-m",
        "local.run",
        "--api-port",
        "0",
        "--sandbox-port",
        "0",
        "--sqs-port",
        "0",
        "--ready-file",
        str(ready_file),
        "--log-file",
        str(workdir / "logs.jsonl"),
    ]
    for name, value in (parameters or {}).items():
        command += ["--parameter", f"{name}={value}"]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=_child_environment(environment),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not ready_file.exists():
            if process.poll() is not None:
                pytest.fail(
                    f"local stack exited with {process.returncode} before it was ready; "
                    f"log {log_path}:\n{_tail(log_path)}"
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"local stack not ready after {STARTUP_TIMEOUT_SECONDS}s; "
                    f"log {log_path}:\n{_tail(log_path)}"
                )
            time.sleep(0.1)
        info = json.loads(ready_file.read_text(encoding="utf-8"))
        client = boto3.client(
            "sqs", endpoint_url=info["sqs_endpoint"], region_name=LOCAL_REGION, **credentials()
        )
        yield Stack(
            api=info["api"],
            sandbox=info["sandbox"],
            sqs_endpoint=info["sqs_endpoint"],
            queues=dict(info["queues"]),
            tables=dict(info.get("tables", {})),
            sqs=client,
            log_path=log_path,
            process=process,
            ready_file=ready_file,
        )
    finally:
        stop(process)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Start `python -m local.run` on free ports; stop it after the session."""
    with running_stack(tmp_path_factory.mktemp("local-stack")) as started:
        yield started


@pytest.fixture(autouse=True)
def _reset_stack(stack: Stack) -> None:
    """Start every integration test from a normal sandbox and empty queues."""
    stack.fresh()


@pytest.fixture(name="wait_for")
def wait_for_fixture() -> Callable[..., Any]:
    """The wait_for helper, as a fixture."""
    return wait_for


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the stack log's tail to failing integration tests."""
    report = yield
    stack_fixture = getattr(item, "funcargs", {}).get("stack")
    if report.failed and report.when == "call" and isinstance(stack_fixture, Stack):
        report.sections.append(("local stack log (tail)", stack_fixture.log_tail()))
    return report
