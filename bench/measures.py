"""The measures that run in a child process: ``python -m bench.measures NAME OUT [ARGS...]``.

Each writes a JSON result to OUT; handler log lines go to the child's stdout (discarded).
"""

from __future__ import annotations

import base64
import json
import os
import resource
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench import workload

workload.add_paths()


def _http(method: str, url: str, payload: Any = None, timeout: float = 120) -> Any:
    data = None if payload is None else json.dumps(payload).encode("utf-8")
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        text = answer.read()
    return json.loads(text) if text else None


# ----------------------------------------------------------------------------- 2. CPU


def _rate(fn: Any, seconds: float) -> float:
    """Calls per second of fn on this thread, over about `seconds`."""
    for _ in range(50):
        fn()
    n, started = 0, time.perf_counter()
    while True:
        for _ in range(100):
            fn()
        n += 100
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return n / elapsed


def cpu(seconds: float = 1.0) -> dict[str, Any]:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    from richpanel_destination.inbound.validate import validate_event
    from richpanel_destination.mapping.transform import to_richpanel
    from richpanel_destination.richpanel.wire import encode_call

    out: dict[str, Any] = {}
    for name, event in workload.cpu_events().items():
        raw = json.dumps(event).encode("utf-8")

        def pipeline(raw: bytes = raw) -> None:
            parsed = json.loads(raw)
            assert not validate_event(parsed)
            encode_call(
                to_richpanel(parsed),
                app_client_id="local-dev-key",
                secret="local-dev-secret",
                signing="md5",
                sent_at_ms=1764321390900,
            )

        def floor(raw: bytes = raw) -> None:
            base64.b64encode(json.dumps(json.loads(raw), separators=(",", ":")).encode("utf-8"))

        measured, baseline = _rate(pipeline, seconds), _rate(floor, seconds)
        out[name] = {
            "bytes": len(raw),
            "events_per_s": measured,
            "floor_events_per_s": baseline,
            "ratio": baseline / measured,
        }
    return out


# ----------------------------------------------------------------------------- 3. batch


def _stack(environ: dict[str, str]) -> Any:
    from local.run import LocalStack
    from local.template import Template

    stack = LocalStack(
        Template.load(None), api_port=0, sandbox_port=0, environ={"INBOUND_AUTH": "none", **environ}
    )
    stack.start()
    return stack


def batch(
    events: int, concurrency: int, table: bool, delay_ms: int = 50, batch_size: int = 0
) -> dict[str, Any]:
    """One timed /v1/batch; batch_size >= 2 turns on /bt chunks (RICHPANEL_BATCH_SIZE)."""
    environ = {"DELIVERY_CONCURRENCY": str(concurrency), "RICHPANEL_BATCH_SIZE": str(batch_size)}
    if not table:
        environ["IDEMPOTENCY_TABLE"] = ""
    stack = _stack(environ)
    try:
        api, sandbox = stack.api.url, stack.sandbox.url
        dedupe_on = bool(stack.environment.get("IDEMPOTENCY_TABLE"))
        # warm: cold start, secrets, connection pool (not timed)
        _http("POST", f"{api}/v1/batch", {"batch": workload.tracks(concurrency, "warm")})
        _http("DELETE", f"{sandbox}/_sandbox/calls")
        _http("POST", f"{sandbox}/_sandbox/behaviour", {"delay_ms": delay_ms})
        body = {"batch": workload.tracks(events, f"b{concurrency}")}
        started = time.perf_counter()
        answer = _http("POST", f"{api}/v1/batch", body)
        wall = time.perf_counter() - started
        calls = _http("GET", f"{sandbox}/_sandbox/calls")["calls"]
        return {
            "events": events,
            "concurrency": concurrency,
            "idempotency_table": dedupe_on,
            "wall_s": wall,
            "summary": answer.get("summary"),
            "batch_size": batch_size,
            "sandbox_requests": len(calls),  # recorded calls: a /bt request records one per event
            "http_requests": len({c["request_seq"] for c in calls}),
            "http_requests_by_path": {
                path: len({c["request_seq"] for c in calls if c["path"] == path})
                for path in sorted({c["path"] for c in calls})
            },
            "body_bytes": len(json.dumps(body)),
        }
    finally:
        stack.stop()


# ----------------------------------------------------------------------------- 4. memory


def memory(kind: str) -> dict[str, Any]:
    richpanel, _queues = workload.install_stubs()
    ingest = workload.load_handler("ingest")
    ingest(
        workload.proxy_event("/v1/track", json.dumps(workload.body_of("track"))),
        workload.FakeContext(),
    )
    after_init = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    from richpanel_destination.limits import TRACKING_API, WEBHOOK

    def small(i: int, pad: int) -> dict[str, Any]:
        return {
            "type": "track",
            "event": "Clicked",
            "userId": f"u-{i}",
            "messageId": f"m-{i:05d}",
            "properties": {"p": "x" * pad},
        }

    def filled(limits: Any, wrap: Any) -> list[dict[str, Any]]:
        """As many events as the limits allow, padded to just under the request size."""
        count = limits.batch_events
        size = len(json.dumps(wrap([small(i, 0) for i in range(count)])))
        pad = max(0, (limits.request_bytes - 64 - size) // count)
        return [small(i, pad) for i in range(count)]

    path, limits = "/v1/batch", TRACKING_API
    if kind == "many":  # the most events the Tracking API allows (2,500), just under 500 KB
        events = filled(limits, lambda items: {"batch": items})
        body = json.dumps({"batch": events})
    elif kind == "webhook":  # a 4,000-event Webhooks (Actions) batch just under 4.25 MiB
        path, limits = "/v1/webhook", WEBHOOK
        events = filled(limits, lambda items: items)
        body = json.dumps(events)
    else:  # "large": 15 events of ~32 KB each (the per-event limit), ~480 KB
        events = workload.tracks(15, "l", pad=32 * 1024 - 700)
        body = json.dumps({"batch": events})
    assert len(body) <= limits.request_bytes, len(body)
    # base64, as API Gateway hands every body to the function (BinaryMediaTypes */*)
    event = workload.proxy_event(path, base64.b64encode(body.encode()).decode())
    event["isBase64Encoded"] = True
    del body
    body_bytes = len(base64.b64decode(event["body"]))
    answer = ingest(event, workload.FakeContext())
    summary = json.loads(answer["body"]).get("summary")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "kind": kind,
        "events": len(events),
        "path": path,
        "body_bytes": body_bytes,
        "status": answer["statusCode"],
        "summary": summary,
        "sent": richpanel.sent,
        "rss_after_init_mb": after_init / 1024,
        "peak_rss_mb": peak / 1024,
    }


# ----------------------------------------------------------------------------- 5. retry drain


def drain(messages: int, table: bool) -> dict[str, Any]:
    from local.run import LocalStack
    from richpanel_destination.delivery.queues import envelope

    class Deferred(LocalStack):  # fill the queue first, then start the poller
        def _start_pollers(self, context: Any) -> None:
            self._deferred = context

    environ = {} if table else {"IDEMPOTENCY_TABLE": ""}
    from local.template import Template

    stack = Deferred(
        Template.load(None), api_port=0, sandbox_port=0, environ={"INBOUND_AUTH": "none", **environ}
    )
    stack.start()
    try:
        assert stack.sqs is not None
        sqs = stack.sqs.client(stack.context.region)
        url = stack.queues["RetryQueue"].url
        base = workload.body_of("track")
        for start in range(0, messages, 10):
            entries = []
            for i in range(start, min(messages, start + 10)):
                event = {**base, "messageId": f"r-{i:05d}"}
                entries.append(
                    {
                        "Id": str(i - start),
                        "MessageBody": envelope(event, 1, "Richpanel answered 503"),
                        "MessageAttributes": {
                            "messageId": {"DataType": "String", "StringValue": event["messageId"]},
                            "attempt": {"DataType": "Number", "StringValue": "1"},
                        },
                    }
                )
            sqs.send_message_batch(QueueUrl=url, Entries=entries)
        started = time.perf_counter()
        LocalStack._start_pollers(stack, stack._deferred)
        deadline = started + 120
        while time.perf_counter() < deadline:
            attrs = sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )
            left = sum(int(v) for v in attrs["Attributes"].values())
            if left == 0:
                break
            time.sleep(0.02)
        wall = time.perf_counter() - started
        accepted = _http("GET", f"{stack.sandbox.url}/_sandbox/accepted")["total"]
        return {
            "messages": messages,
            "idempotency_table": bool(stack.environment.get("IDEMPOTENCY_TABLE")),
            "wall_s": wall,
            "messages_per_s": messages / wall,
            "delivered": accepted,
            "left": left,
            "workers": [p.workers for p in stack.pollers],
        }
    finally:
        stack.stop()


def main(argv: list[str]) -> None:
    name, out, *args = argv
    if name == "cpu":
        result = cpu(float(args[0]) if args else 1.0)
    elif name == "batch":
        size = int(args[3]) if len(args) > 3 else 0
        result = batch(int(args[0]), int(args[1]), args[2] == "table", batch_size=size)
    elif name == "memory":
        result = memory(args[0])
    elif name == "drain":
        result = drain(int(args[0]), args[1] == "table")
    elif name == "hang":
        from bench import resilience

        result = resilience.hang(args[0] == "on", int(args[1]))
    elif name == "storm":
        from bench import resilience

        result = resilience.storm(args[0] == "on", float(args[1]))
    elif name == "dynamodb":
        from bench import dynamodb

        result = dynamodb.measure()
    else:
        raise SystemExit(f"unknown measure {name}")
    Path(out).write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
