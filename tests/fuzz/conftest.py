"""Fuzzing the ingest handler in-process: stub Richpanel and SQS, Hypothesis profiles, a tally.

- `ingest` (module): functions/ingest/app.py loaded from its file with the environment below,
  the runtime's Richpanel client, queues and dedupe replaced by the stubs here; `ingest.post`
  sends one API Gateway REST proxy event through `lambda_handler` and returns the answer.
- Profiles: FUZZ_PROFILE=default (used by `make test`: few, derandomized examples) or
  FUZZ_PROFILE=long (`make fuzz`: >= 10,000 cases in all, random).
- Every case is counted; the terminal summary prints cases, server errors (5xx) and crashes.
"""

from __future__ import annotations

import base64
import functools
import importlib.util
import json
import os
import sys
import uuid
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from threading import Lock
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from richpanel_destination import runtime
from richpanel_destination.delivery.queues import QueueMessage
from richpanel_destination.richpanel.outcomes import Kind, Outcome
from richpanel_destination.secrets import RichpanelCredentials

ROOT = Path(__file__).resolve().parents[2]
INGEST_APP = ROOT / "functions" / "ingest" / "app.py"
ENVIRONMENT = {
    "INBOUND_AUTH": "none",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "ingest-fuzz",  # its own logger: the level below stays here
    "POWERTOOLS_METRICS_NAMESPACE": "RichpanelDestinationFuzz",
    "POWERTOOLS_LOG_LEVEL": "CRITICAL",  # one log line per event would dominate the run time
    "POWERTOOLS_DEV": "false",
    "SCREENS_AS_PAGE_VIEWS": "false",
    "DELIVERY_BUDGET_SECONDS": "30",  # stubs answer at once; never let a slow CI box time out
    "DELIVERY_CONCURRENCY": "4",
    "IDEMPOTENCY_TABLE": "",
    "RETRY_QUEUE_URL": "https://sqs.fuzz.invalid/retry",
    "DEAD_LETTER_QUEUE_URL": "https://sqs.fuzz.invalid/dlq",
}

# ---------------------------------------------------------------------------- profiles

PROFILE = os.environ.get("FUZZ_PROFILE", "default")
_COMMON: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
# (examples per property) x (properties in test_ingest_properties.py) = cases in all
settings.register_profile("fuzz-default", derandomize=True, max_examples=150, **_COMMON)
settings.register_profile("fuzz-long", max_examples=2_500, print_blob=True, **_COMMON)


def fuzz_settings(share: float = 1.0) -> settings:
    """The selected profile, with ``share`` of its examples (a cheap property may run more)."""
    base = settings.get_profile("fuzz-long" if PROFILE == "long" else "fuzz-default")
    return settings(base, max_examples=max(1, int(base.max_examples * share)))


# ---------------------------------------------------------------------------- the tally


@dataclass
class Tally:
    """What the fuzz run did, printed at the end of the session."""

    channel: str
    cases: int = 0
    server_errors: int = 0
    crashes: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def count(self, status: int, crashed: bool) -> None:
        self.cases += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if crashed:
            self.crashes += 1
        elif status >= 500:
            self.server_errors += 1


TALLY = Tally("in-process through the ingest handler (Hypothesis)")
HTTP_TALLY = Tally("over HTTP to the local stack (Schemathesis)")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    tallies = [t for t in (TALLY, HTTP_TALLY) if t.cases]
    if not tallies:
        return
    terminalreporter.write_sep("=", f"fuzz ({PROFILE} profile)")
    for tally in tallies:
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(tally.statuses.items()))
        terminalreporter.write_line(
            f"{tally.cases} cases {tally.channel}: {tally.server_errors} server errors (5xx), "
            f"{tally.crashes} crashes (unhandled exceptions); statuses {{{statuses}}}"
        )
    total = sum(t.cases for t in tallies)
    failures = sum(t.server_errors + t.crashes for t in tallies)
    terminalreporter.write_line(f"fuzz total: {total} cases, {failures} server errors or crashes")


# ---------------------------------------------------------------------------- stubs

KINDS = (Kind.DELIVERED, Kind.RETRYABLE, Kind.PERMANENT)
STATUS_FOR = {Kind.DELIVERED: 200, Kind.RETRYABLE: 503, Kind.PERMANENT: 400}


def decision(seed: int, event_id: Any) -> Kind:
    """What the stub Richpanel answers a call with this eventId (a pure function of both)."""
    return KINDS[zlib.crc32(f"{seed}:{event_id!r}".encode("utf-8", "replace")) % len(KINDS)]


class StubRichpanel:
    """Answers delivered / retryable / permanent by ``decision(seed, eventId)``; records calls."""

    def __init__(self) -> None:
        self.seed = 0
        self.sent: list[tuple[dict[str, Any], Kind]] = []
        self._lock = Lock()

    def held(self) -> None:
        """As the gate with a closed breaker and no 429 pause: nothing is held back."""
        return None

    def send(
        self, call: Mapping[str, Any], credentials: Any = None, within: float | None = None
    ) -> Outcome:
        # what the real client does first: a call that cannot be encoded would fail there
        json.dumps(call, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        kind = decision(self.seed, call.get("eventId"))
        with self._lock:
            self.sent.append((dict(call), kind))
        status = STATUS_FOR[kind]
        return Outcome(kind, f"stub Richpanel answered {status}", status)


class StubQueues:
    """Parks everything it is given (never fails) and records the messages."""

    def reserve(self, count: int) -> float:
        """As Queues reserves time to queue ``count`` events, at the default pace."""
        from richpanel_destination.delivery.queues import queue_seconds

        return queue_seconds(count)

    def __init__(self) -> None:
        self.messages: list[QueueMessage] = []

    def send_many(self, messages: list[QueueMessage]) -> dict[int, str]:
        for message in messages:
            message.body.encode("utf-8")  # what SQS needs: a body that is valid UTF-8
        self.messages.extend(messages)
        return {}


# ---------------------------------------------------------------------------- the handler


class FakeContext:
    """The Lambda context attributes Powertools reads."""

    function_name = "IngestFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:IngestFunction"
    memory_limit_in_mb = 512
    log_group_name = "/aws/lambda/IngestFunction"
    log_stream_name = "fuzz"
    identity = None
    client_context = None

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def proxy_event(
    path: str,
    body: str | None,
    *,
    headers: Mapping[str, str] | None = None,
    is_base64: bool = False,
    method: str = "POST",
) -> dict[str, Any]:
    """An API Gateway REST proxy event (payload 1.0), shaped like events/*.json."""
    single = dict(headers or {})
    request_id = str(uuid.uuid4())
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": single or None,
        "multiValueHeaders": {k: [v] for k, v in single.items()} or None,
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "fuzz",
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/live{path}",
            "stage": "live",
            "protocol": "HTTP/1.1",
            "domainName": "fuzz.execute-api.us-east-1.amazonaws.com",
            "requestId": request_id,
            "identity": {"sourceIp": "203.0.113.7", "userAgent": single.get("User-Agent")},
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


@dataclass
class Answer:
    """The handler's answer to one request, and what reached the stubs meanwhile."""

    status: int
    body: Any  # parsed JSON, or the text when it is not JSON
    headers: dict[str, str]
    crashed: BaseException | None
    sent: list[tuple[dict[str, Any], Kind]]
    messages: list[QueueMessage]
    seed: int


class Ingest:
    """The ingest Lambda handler, in this process, in front of the stubs."""

    def __init__(self, handler: Any, richpanel: StubRichpanel, queues: StubQueues) -> None:
        self.handler = handler
        self.richpanel = richpanel
        self.queues = queues

    def invoke(self, event: dict[str, Any], seed: int = 0) -> Answer:
        self.richpanel.seed = seed
        self.richpanel.sent = []
        self.queues.messages = []
        crashed: BaseException | None = None
        try:
            result = self.handler(event, FakeContext())
            status = int(result["statusCode"])
            headers = dict(result.get("headers") or {})
            text = result.get("body") or ""
            if result.get("isBase64Encoded"):
                text = base64.b64decode(text).decode("utf-8")
        except Exception as exc:  # API Gateway would answer 502 for an unhandled error
            crashed, status, headers, text = exc, 502, {}, ""
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = text
        TALLY.count(status, crashed is not None)
        return Answer(
            status,
            body,
            headers,
            crashed,
            list(self.richpanel.sent),
            list(self.queues.messages),
            seed,
        )

    def post(
        self,
        path: str,
        body: str | bytes | None,
        *,
        headers: Mapping[str, str] | None = None,
        gzip_body: bool = False,
        base64_body: bool = False,
        seed: int = 0,
        method: str = "POST",
    ) -> Answer:
        """POST a body (text, or bytes sent base64 as API Gateway does for binary bodies)."""
        headers = dict(headers or {})
        if isinstance(body, str) and (gzip_body or base64_body):
            body = body.encode("utf-8")
        if gzip_body and isinstance(body, bytes):
            import gzip

            body = gzip.compress(body)
            headers.setdefault("Content-Encoding", "gzip")
        is_base64 = isinstance(body, bytes)
        text = base64.b64encode(body).decode("ascii") if isinstance(body, bytes) else body
        event = proxy_event(path, text, headers=headers, is_base64=is_base64, method=method)
        return self.invoke(event, seed)


def load_ingest_handler() -> Any:
    """functions/ingest/app.py under its own module name (layers/common is on sys.path)."""
    name = "_fuzz_ingest_app"
    spec = importlib.util.spec_from_file_location(name, INGEST_APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module.lambda_handler


@pytest.fixture(scope="module")
def ingest() -> Iterator[Ingest]:
    """The handler with the stubs; the environment and runtime are restored after the module."""
    richpanel, queues = StubRichpanel(), StubQueues()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in ENVIRONMENT.items():
            patch.setenv(name, value)
        runtime.reset()
        # functools.cache wrappers: runtime.reset() calls cache_clear() on each factory
        patch.setattr(runtime, "richpanel", functools.cache(lambda: richpanel))
        patch.setattr(runtime, "queues", functools.cache(lambda: queues))
        patch.setattr(runtime, "dedupe", functools.cache(lambda: None))
        patch.setattr(runtime, "richpanel_credentials", lambda: RichpanelCredentials("k", "s"))
        handler = load_ingest_handler()
        try:
            yield Ingest(handler, richpanel, queues)
        finally:
            delivery = runtime.delivery()
            delivery._pool.shutdown(wait=True)
            runtime.reset()
    runtime.reset()
