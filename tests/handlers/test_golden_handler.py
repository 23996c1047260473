"""Golden cases through the ingest ``lambda_handler`` in-process, with built API Gateway events.

Every case golden_cases.layer puts on the MAPPING or HANDLER layer runs here (transport,
limits, auth, hostile bodies, rejections, skips, batches, and the mapping cases' answers):
the request is encoded as a sender puts it on the wire, turned into the API Gateway event the
local API would build, the REST API's proxy event (payload 1.0: text, or base64 for gzip and
bytes that are not UTF-8) and the HTTP API's (payload 2.0: lower-case headers, base64 unless a
text Content-Type), and handed to ``lambda_handler``. The handler's Richpanel client is the
real one, its HTTP answered by ``responses`` with the sandbox's own rules
(local.sandbox.evaluate_ingest: appClientId, signature, uid), so the calls compared are those
decoded from the wire, exactly as over HTTP. The environment is the template's, the write key
the local one; queues is the fuzz harness's stub (nothing here may park) and idempotency is
off (no table in-process).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import re
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from local.api import build_http_event
from local.sandbox import SandboxConfig, evaluate_ingest
from local.secrets import LOCAL_RICHPANEL, LOCAL_WEBHOOK_SECRET, LOCAL_WRITE_KEY
from local.template import Template
from richpanel_destination import runtime
from richpanel_destination.secrets import InboundCredentials, RichpanelCredentials, SecretError
from tests.functions.golden_cases import (
    HANDLER,
    MAPPING,
    by_event_id,
    cases_in,
    encode,
    load,
    unstamped,
)
from tests.fuzz.conftest import FakeContext, StubQueues, load_ingest_handler, proxy_event

IN_PROCESS = cases_in(MAPPING, HANDLER)
RICHPANEL_URL = "https://richpanel.golden.invalid/v2"
# What the template resolves to only on a stack: fakes that are never reached here
STACK_ONLY = {
    "RICHPANEL_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:golden/rp",
    "INBOUND_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:golden/in",
    "RETRY_QUEUE_URL": "https://sqs.golden.invalid/retry",
    "DEAD_LETTER_QUEUE_URL": "https://sqs.golden.invalid/dlq",
    "IDEMPOTENCY_TABLE": "",
    "FRESHNESS_TABLE": "",  # in-process cases keep no marks; the emulator's cases do
}


def template_environment() -> dict[str, str]:
    """IngestFunction's Environment Variables as the template resolves them by default."""
    template = Template.load()
    context = template.context({})
    spec = template.functions()["IngestFunction"]
    environment = {}
    for name, raw in spec.environment.items():
        environment[name] = STACK_ONLY[name] if name in STACK_ONLY else context.resolve_str(raw)
    environment["RICHPANEL_BASE_URL"] = RICHPANEL_URL
    environment["POWERTOOLS_TRACE_DISABLED"] = "true"
    return environment


class WireRichpanel:
    """Richpanel's ingest API under ``responses``: answered and recorded as the sandbox does."""

    def __init__(self) -> None:
        self.config = SandboxConfig(
            app_client_id=LOCAL_RICHPANEL["apiKey"],
            secret=LOCAL_RICHPANEL["apiSecret"] or None,
            signing="md5",
        )
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def answer(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        kind = "bt" if str(request.url).endswith("/bt") else "t"
        body = request.body
        raw = body.encode("utf-8") if isinstance(body, str) else (body or b"")
        outcome = evaluate_ingest(kind, raw, self.config)
        with self._lock:
            self.records.extend({"status": outcome.status, "call": c} for c in outcome.calls)
        return outcome.status, {"Content-Type": "application/json"}, json.dumps(outcome.body)

    def delivered_calls(self) -> list[dict[str, Any]]:
        """Calls accepted, without the per-request stamp, sorted by eventId."""
        out = []
        for record in self.records:
            assert record["status"] == 200, record
            out.append(unstamped(record["call"]))
        return by_event_id(out)


def on_the_wire(handler: Any, event: dict[str, Any]) -> tuple[dict[str, Any], WireRichpanel]:
    """Invoke ``handler`` with Richpanel answered by the sandbox's rules: (result, the wire)."""
    richpanel = WireRichpanel()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.POST, re.compile(re.escape(RICHPANEL_URL) + r"/b?t$"),
                          callback=richpanel.answer)  # fmt: skip
        return handler(event, FakeContext()), richpanel


@contextlib.contextmanager
def ingest_handler(
    inbound: InboundCredentials | None = None, env: Mapping[str, str | None] | None = None
) -> Iterator[Any]:
    """lambda_handler with the template's environment (plus ``env``; None unsets), the local
    credentials (or ``inbound``) and stub queues, loaded as on a cold start."""
    rp = RichpanelCredentials(LOCAL_RICHPANEL["apiKey"], LOCAL_RICHPANEL["apiSecret"])
    inbound = inbound or InboundCredentials((LOCAL_WRITE_KEY,), (LOCAL_WEBHOOK_SECRET,))
    queues = StubQueues()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in (template_environment() | dict(env or {})).items():
            if value is None:
                patch.delenv(name, raising=False)
            else:
                patch.setenv(name, value)
        runtime.reset()
        # functools.cache wrappers: runtime.reset() calls cache_clear() on each factory
        patch.setattr(runtime, "richpanel_credentials", functools.cache(lambda: rp))
        patch.setattr(runtime, "inbound_credentials", functools.cache(lambda: inbound))
        patch.setattr(runtime, "queues", functools.cache(lambda: queues))
        try:
            yield load_ingest_handler()
        finally:
            runtime.reset()
    runtime.reset()


@pytest.fixture(scope="module")
def handler() -> Iterator[Any]:
    """lambda_handler with the template's environment, the local credentials, stub queues."""
    with ingest_handler() as loaded:
        yield loaded


def api_gateway_event(path: str, raw: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """The proxy event for these bytes, encoded as the local API (and API Gateway) does."""
    text: str | None
    if not raw:
        text, is_base64 = None, False
    elif any(name.lower() == "content-encoding" for name in headers):
        text, is_base64 = base64.b64encode(raw).decode("ascii"), True
    else:
        try:
            text, is_base64 = raw.decode("utf-8"), False
        except UnicodeDecodeError:
            text, is_base64 = base64.b64encode(raw).decode("ascii"), True
    return proxy_event(path, text, headers=headers, is_base64=is_base64)


def http_api_event(path: str, raw: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """The HTTP API's payload format 2.0 event for these bytes, as the local HTTP API builds it."""
    return build_http_event(
        method="POST",
        raw_path=path,
        route_path=path,
        path_parameters={},
        headers=list(headers.items()),
        body=raw,
        stage="live",
        source_ip="203.0.113.7",
    )


EVENT_BUILDERS = {"rest": api_gateway_event, "http": http_api_event}


def test_every_in_process_case_is_found() -> None:
    assert len(IN_PROCESS) >= 40


@pytest.mark.parametrize("kind", sorted(EVENT_BUILDERS))
@pytest.mark.parametrize("path", IN_PROCESS, ids=[p.stem for p in IN_PROCESS])
def test_golden_case_in_process(
    handler: Any, path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every case, through a REST (payload 1.0) and an HTTP API (payload 2.0) event."""
    case = load(path)
    for name, value in case.get("settings", {}).items():
        monkeypatch.setenv(name, value)
    runtime.reset()
    raw, headers = encode(case["request"])
    try:
        event = EVENT_BUILDERS[kind](case["request"]["path"], raw, headers)
        result, richpanel = on_the_wire(handler, event)
    finally:
        monkeypatch.undo()
        runtime.reset()
    expect = case["expect"]
    text = result.get("body") or ""
    if result.get("isBase64Encoded"):
        text = base64.b64decode(text).decode("utf-8")
    assert int(result["statusCode"]) == expect["status"], text
    assert json.loads(text) == expect["response"]
    assert richpanel.delivered_calls() == by_event_id(expect["richpanel"])


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic " + base64.b64encode(b"not-the-write-key:").decode()],
    ids=["no-credentials", "wrong-write-key"],
)
def test_the_in_process_handler_checks_the_write_key(
    handler: Any, authorization: str | None
) -> None:
    """Auth is live here: the golden cases pass because they carry the local write key."""
    case = load(next(p for p in IN_PROCESS if p.stem == "track_basic"))
    raw, headers = encode(case["request"])
    headers.pop("Authorization")
    if authorization is not None:
        headers["Authorization"] = authorization
    runtime.reset()
    result, richpanel = on_the_wire(handler, api_gateway_event("/v1/track", raw, headers))
    assert int(result["statusCode"]) == 401, result
    assert json.loads(result["body"])["message"].startswith("Unauthorized")
    assert richpanel.records == []


def test_unreadable_richpanel_credentials_send_nothing_and_queue_the_event(
    handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SecretError reading Richpanel's credentials: nothing reaches Richpanel, the event is
    retryable (parked for the retry function, answered ``queued``), the request still 200."""

    def unreadable() -> RichpanelCredentials:
        raise SecretError("cannot read secret arn:x: ResourceNotFoundException")

    queues = runtime.queues()
    assert isinstance(queues, StubQueues)
    queues.messages = []
    case = load(next(p for p in IN_PROCESS if p.stem == "track_basic"))
    raw, headers = encode(case["request"])
    richpanel = WireRichpanel()
    monkeypatch.setattr(runtime, "richpanel_credentials", functools.cache(unreadable))
    runtime.reset()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.POST, re.compile(re.escape(RICHPANEL_URL) + r"/b?t$"),
                          callback=richpanel.answer)  # fmt: skip
        result = handler(api_gateway_event("/v1/track", raw, headers), FakeContext())
        assert len(mock.calls) == 0
    answer = json.loads(result["body"])
    assert int(result["statusCode"]) == 200, answer
    assert answer["summary"]["queued"] == 1, answer
    assert [r["outcome"] for r in answer["results"]] == ["queued"]
    assert richpanel.records == []
    assert len(queues.messages) == 1
    assert "Richpanel credentials unavailable" in queues.messages[0].body


@pytest.mark.parametrize("kind", sorted(EVENT_BUILDERS))
def test_gzip_body_is_delivered_through_either_payload_format(handler: Any, kind: str) -> None:
    """A gzip body arrives base64 (isBase64Encoded) in both formats and is inflated."""
    case = load(next(p for p in IN_PROCESS if p.stem == "track_basic"))
    raw, headers = encode({**case["request"], "encoding": "gzip"})
    event = EVENT_BUILDERS[kind]("/v1/track", raw, headers)
    assert event["isBase64Encoded"] is True
    runtime.reset()
    result, richpanel = on_the_wire(handler, event)
    assert int(result["statusCode"]) == 200, result
    assert richpanel.delivered_calls() == by_event_id(case["expect"]["richpanel"])


def test_gzip_bytes_passed_as_text_are_a_400_not_a_crash(handler: Any) -> None:
    """Should an HTTP API ever hand gzip bytes over as text (isBase64Encoded false), the body is
    refused as not gzip, nothing is sent and the sender sees why."""
    case = load(next(p for p in IN_PROCESS if p.stem == "track_basic"))
    raw, headers = encode({**case["request"], "encoding": "gzip"})
    event = http_api_event("/v1/track", raw, headers)
    event["body"], event["isBase64Encoded"] = raw.decode("utf-8", "replace"), False
    runtime.reset()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        result = handler(event, FakeContext())
        assert len(mock.calls) == 0
    assert int(result["statusCode"]) == 400, result
    assert "not valid gzip" in json.loads(result["body"])["message"]


@pytest.mark.parametrize(
    ("kind", "status", "answer"),
    [
        ("rest", 403, {"message": "Missing Authentication Token"}),
        ("http", 404, {"message": "Not Found"}),
    ],
)
def test_an_unknown_route_answers_as_each_api_does(
    handler: Any, kind: str, status: int, answer: dict[str, str]
) -> None:
    event = EVENT_BUILDERS[kind]("/v1/tracks", b"{}", {"Content-Type": "application/json"})
    result = handler(event, FakeContext())
    assert (int(result["statusCode"]), json.loads(result["body"])) == (status, answer)


def test_http_payload_cookies_and_lower_case_headers_reach_the_request(handler: Any) -> None:
    """Payload 2.0 headers are lower-case and cookies apart: authentication still reads the
    write key from authorization, whatever its casing."""
    case = load(next(p for p in IN_PROCESS if p.stem == "track_basic"))
    raw, headers = encode(case["request"])
    event = http_api_event("/v1/track", raw, {**headers, "Cookie": "session=1"})
    assert "authorization" in event["headers"] and event["cookies"] == ["session=1"]
    runtime.reset()
    result, richpanel = on_the_wire(handler, event)
    assert int(result["statusCode"]) == 200, result
    assert len(richpanel.delivered_calls()) == len(case["expect"]["richpanel"])
