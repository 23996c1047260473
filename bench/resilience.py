"""Richpanel misbehaving (issue 17): the circuit breaker while it hangs, pacing in a 429 storm.

``python -m bench.run resilience`` (merges into results.json, ~40 s); also part of
``make bench``. Each run is a fresh child process (``python -m bench.measures hang|storm``)
driving the real ingest handler in-process (``functions/ingest/app.py``) against the
sandbox (local/sandbox) over HTTP:

- **hang**: the sandbox waits ``delay_ms`` 8000 before answering, so every call ends in
  the client's 3 s read timeout. Single-event ``/v1/track`` requests, one after another
  (one container); the idempotency table (which holds the breaker's item) and the retry
  queue are on moto's server (``local.sqs.LocalSqs``: real HTTP, as boto3 talks to AWS).
  "before": ``BREAKER_FAILURES=0`` (breaker off); "after": the template's 5 failures / 30 s.
  Answer time is the handler's wall time; billed = that rounded up to 1 ms (as Lambda).
  Richpanel calls are counted at the client (the sandbox records a call only once its
  delay is over). Breaker off, the 50 requests run as 5 containers of 10 side by side
  (each request waits out the timeout alike; 50 in one would take ~150 s).
- **storm**: the sandbox lets 20 calls a second through (``rate_limit``, ``Retry-After: 1``)
  and answers in 50 ms; ``/v1/batch`` requests of 16 events every 50 ms (320 events/s
  offered) for 10 s at ``DELIVERY_CONCURRENCY`` 16, no table (no breaker: a 429 is not a
  failure to it), parking stubbed. "before": the gate's pacing with its pause and AIMD
  bypassed (:class:`Unpaced`); "after": ``runtime.richpanel()`` as shipped. Calls per
  second are counted from the sandbox's record (arrival times), accepted and refused.
"""

from __future__ import annotations

import functools
import json
import math
import os
import statistics
import time
from collections import Counter
from datetime import datetime
from typing import Any

from bench import workload

workload.add_paths()

KEY, SECRET = "bench-key", "bench-secret"
HANG_DELAY_MS = 8000
HANG_REQUESTS = 50
# breaker off, every request takes the 3 s read timeout: the 50 run as 5 containers
# (children) of 10 side by side (~31 s, idle), the same as one container's 50 (~150 s)
HANG_BEFORE_CONTAINERS = 5
BREAKER_FAILURES, BREAKER_COOLDOWN = 5, 30  # the template's defaults
FAST_MS = 200  # the goal once the breaker is open: p99 under this
STORM_RATE, STORM_RETRY_AFTER, STORM_DELAY_MS = 20, 1, 50
STORM_SECONDS, STORM_BATCH, STORM_EVERY_S = 10.0, 16, 0.05
TABLE = "bench-breaker-idempotency"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank, as the p99 of 50 samples is the 50th)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _environment(base_url: str, **extra: str) -> None:
    os.environ.update(
        {
            **workload.STUB_ENVIRONMENT,
            "RICHPANEL_BASE_URL": base_url,
            "RICHPANEL_SIGNING": "md5",
            "RICHPANEL_CONNECT_TIMEOUT_SECONDS": "2",  # as template.yaml
            "RICHPANEL_READ_TIMEOUT_SECONDS": "3",
            "DELIVERY_CONCURRENCY": "16",
            "DELIVERY_BUDGET_SECONDS": "4",  # the template's default
            **extra,
        }
    )


def _credentials() -> None:
    from richpanel_destination import runtime
    from richpanel_destination.secrets import RichpanelCredentials

    runtime.richpanel_credentials = lambda: RichpanelCredentials(KEY, SECRET)


def _count_calls(gate: Any) -> Counter[str]:
    """Count the HTTP requests the gate's client really makes (after the gate let them)."""
    made: Counter[str] = Counter()
    client = gate.client
    for name in ("send", "send_batch"):
        real = getattr(client, name)

        def counted(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            made[_name] += 1
            return _real(*args, **kwargs)

        setattr(client, name, counted)
    return made


def _invoke(handler: Any, path: str, body: Any) -> tuple[float, dict[str, Any]]:
    """One invocation: its wall time (s) and the answer's status and body."""
    event = workload.proxy_event(path, json.dumps(body))
    started = time.perf_counter()
    answer = handler(event, workload.FakeContext())
    wall = time.perf_counter() - started
    return wall, {"status": answer["statusCode"], **json.loads(answer["body"] or "{}")}


# ------------------------------------------------------------------ 1. Richpanel hanging


def hang(breaker: bool, requests: int) -> dict[str, Any]:
    from local.dynamodb import dynamodb_client
    from local.sandbox import start_sandbox
    from local.sqs import LocalSqs, sqs_client

    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_DYNAMODB"):
        os.environ.pop(name, None)
    moto = LocalSqs()
    endpoint = moto.start()
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    dynamodb_client(endpoint, "us-east-1").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    sqs = sqs_client(endpoint, "us-east-1")
    retry_url = sqs.create_queue(QueueName="bench-retry")["QueueUrl"]
    dlq_url = sqs.create_queue(QueueName="bench-dlq")["QueueUrl"]
    sandbox = start_sandbox(KEY, SECRET, "md5")
    try:
        _environment(
            f"{sandbox.url}/v2",
            IDEMPOTENCY_TABLE=TABLE,
            RETRY_QUEUE_URL=retry_url,
            DEAD_LETTER_QUEUE_URL=dlq_url,
            BREAKER_FAILURES=str(BREAKER_FAILURES if breaker else 0),
            BREAKER_COOLDOWN_SECONDS=str(BREAKER_COOLDOWN),
        )
        from richpanel_destination import runtime

        runtime.reset()
        _credentials()
        handler = workload.load_handler("ingest")
        gate = runtime.richpanel()
        assert (gate.breaker is not None) == breaker, "breaker not as asked"
        changes: list[tuple[float, str]] = []
        if gate.breaker is not None:
            notify = gate.breaker._notify

            def noted(change: str, details: dict[str, Any]) -> None:
                changes.append((time.perf_counter(), change))
                notify(change, details)

            gate.breaker._notify = noted
        made = _count_calls(gate)
        base = workload.body_of("track")
        warm_s, warm = _invoke(handler, "/v1/track", {**base, "messageId": "hang-warm"})
        made.clear()
        sandbox.state.set_behaviour(_behaviour({"delay_ms": HANG_DELAY_MS}))
        rows: list[dict[str, Any]] = []
        for i in range(requests):
            at = time.perf_counter()
            wall, answer = _invoke(handler, "/v1/track", {**base, "messageId": f"hang-{i:03d}"})
            rows.append(
                {
                    "at": at,
                    "ms": wall * 1000,
                    "status": answer["status"],
                    "fate": ((answer.get("results") or [{}])[0]).get("outcome"),
                    "calls_so_far": sum(made.values()),
                }
            )
        attributes = sqs.get_queue_attributes(
            QueueUrl=retry_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"],
        )["Attributes"]
        queued = sum(int(v) for v in attributes.values())  # a held event waits: delayed
    finally:
        sandbox.stop()
        moto._server.stop()
    opened_at = next((t for t, change in changes if change == "opened"), None)
    ms = [r["ms"] for r in rows]
    once_open = [r["ms"] for r in rows if opened_at is not None and r["at"] >= opened_at]
    billed = [math.ceil(x) for x in ms]
    out: dict[str, Any] = {
        "breaker": breaker,
        "requests": requests,
        "delay_ms": HANG_DELAY_MS,
        "warm_up_s": warm_s,
        "warm_up_status": warm["status"],
        "p50_ms": statistics.median(ms),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms),
        "billed_ms_per_event": sum(billed) / len(billed),
        "billed_ms_total": sum(billed),
        "richpanel_calls": sum(made.values()),
        "statuses": dict(Counter(str(r["status"]) for r in rows)),
        "fates": dict(Counter(str(r["fate"]) for r in rows)),
        "queued_on_retry_queue": queued,
        "breaker_changes": [change for _, change in changes],
        "containers": 1,
        "requests_before_open": sum(1 for r in rows if opened_at is None or r["at"] < opened_at),
        "ms_by_request": [round(x, 2) for x in ms],
    }
    if once_open:
        out.update(
            {
                "open_requests": len(once_open),
                "open_p50_ms": statistics.median(once_open),
                "open_p99_ms": percentile(once_open, 99),
                "open_max_ms": max(once_open),
                "open_billed_ms_per_event": sum(math.ceil(x) for x in once_open) / len(once_open),
                "open_richpanel_calls": sum(made.values())
                - max(
                    (r["calls_so_far"] for r in rows if r["at"] < opened_at),
                    default=0,
                ),
            }
        )
    return out


def _behaviour(payload: dict[str, Any]) -> Any:
    from local.sandbox.faults import Behaviour

    return Behaviour.from_json(payload)


# ------------------------------------------------------------------ 2. a 429 storm


def _unpaced_gate() -> Any:
    """The shipped Gate over a Pacing that never pauses and never adapts (pacing off)."""
    from richpanel_destination import runtime
    from richpanel_destination.delivery.gate import Gate
    from richpanel_destination.delivery.pacing import Pacing
    from richpanel_destination.richpanel.client import RichpanelClient

    class Unpaced(Pacing):
        def paused_for(self) -> float:
            return 0.0

        def release(self, outcome: Any) -> None:
            with self._changed:
                self._in_flight -= 1
                self._changed.notify_all()

    s = runtime.settings()
    return Gate(RichpanelClient(s, pool_size=s.delivery_concurrency), Unpaced(16), None)


def storm(paced: bool, seconds: float = STORM_SECONDS) -> dict[str, Any]:
    from local.sandbox import start_sandbox

    sandbox = start_sandbox(KEY, SECRET, "md5")
    try:
        _environment(f"{sandbox.url}/v2", IDEMPOTENCY_TABLE="")
        from richpanel_destination import runtime

        runtime.reset()
        queues = workload.StubQueues()  # parking stubbed (no table: no dedupe, no freshness)
        patched: Any = runtime  # its factories, replaced as tests/fuzz does
        patched.queues = functools.cache(lambda: queues)
        _credentials()
        if not paced:
            patched.richpanel = functools.cache(_unpaced_gate)
        handler = workload.load_handler("ingest")
        gate = runtime.richpanel()
        made = _count_calls(gate)
        tracks = workload.tracks(STORM_BATCH, "storm-warm")
        _invoke(handler, "/v1/batch", {"batch": tracks})  # warm: connections, imports
        made.clear()
        sandbox.state.clear()
        sandbox.state.set_behaviour(
            _behaviour(
                {
                    "delay_ms": STORM_DELAY_MS,
                    "rate_limit": {"per_second": STORM_RATE, "retry_after": STORM_RETRY_AFTER},
                }
            )
        )
        started_wall = datetime.now().astimezone()
        started = time.perf_counter()
        fates: Counter[str] = Counter()
        sent = requests = 0
        limits: list[float] = []
        while time.perf_counter() - started < seconds:
            tick = started + requests * STORM_EVERY_S
            pause = tick - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            batch = workload.tracks(STORM_BATCH, f"storm-{requests:04d}")
            _wall, answer = _invoke(handler, "/v1/batch", {"batch": batch})
            for fate, count in (answer.get("summary") or {}).items():
                if fate != "received":
                    fates[fate] += count
            sent += STORM_BATCH
            requests += 1
            limits.append(gate.pacing.limit)
        elapsed = time.perf_counter() - started
        entries = [
            e
            for e in sandbox.state.list_calls()
            if datetime.fromisoformat(e["received_at"]) >= started_wall
        ]
    finally:
        sandbox.stop()
    times = sorted(
        (datetime.fromisoformat(e["received_at"]) - started_wall).total_seconds() for e in entries
    )
    statuses = Counter(e["status"] for e in entries)
    buckets = Counter(int(t) for t in times if t < elapsed)
    per_second = [buckets.get(i, 0) for i in range(int(elapsed))]
    accepted_buckets = Counter(
        int((datetime.fromisoformat(e["received_at"]) - started_wall).total_seconds())
        for e in entries
        if e["status"] == 200
    )
    # the most calls that arrived within any one second (sliding window over arrivals)
    peak, j = 0, 0
    for i, t in enumerate(times):
        while t - times[j] >= 1.0:
            j += 1
        peak = max(peak, i - j + 1)
    return {
        "paced": paced,
        "seconds": elapsed,
        "allowed_per_s": STORM_RATE,
        "retry_after_s": STORM_RETRY_AFTER,
        "sandbox_delay_ms": STORM_DELAY_MS,
        "concurrency": 16,
        "requests": requests,
        "events_offered": sent,
        "events_offered_per_s": sent / elapsed,
        "fates": dict(fates),
        "richpanel_calls": len(entries),
        "client_calls": sum(made.values()),
        "accepted": statuses.get(200, 0),
        "refused_429": statuses.get(429, 0),
        "other_statuses": {str(k): v for k, v in statuses.items() if k not in (200, 429)},
        "calls_per_s": len(entries) / elapsed,
        "accepted_per_s": statuses.get(200, 0) / elapsed,
        "refused_per_s": statuses.get(429, 0) / elapsed,
        "calls_by_second": per_second,
        "accepted_by_second": [accepted_buckets.get(i, 0) for i in range(int(elapsed))],
        "peak_calls_in_1s": peak,
        "max_calls_in_a_clock_second": max(per_second, default=0),
        "pacing_limit_min": min(limits, default=None),
        "pacing_limit_last": limits[-1] if limits else None,
        "parked": queues.parked,
    }


# ------------------------------------------------------------------ parent: run, rows


def merged(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several containers' breaker-off hang runs as one (their requests pooled)."""
    ms = [x for run in runs for x in run["ms_by_request"]]
    billed = [math.ceil(x) for x in ms]
    out = dict(runs[0])
    out.update(
        {
            "containers": len(runs),
            "requests": len(ms),
            "p50_ms": statistics.median(ms),
            "p99_ms": percentile(ms, 99),
            "max_ms": max(ms),
            "billed_ms_per_event": sum(billed) / len(billed),
            "billed_ms_total": sum(billed),
            "ms_by_request": ms,
        }
    )
    for key in ("richpanel_calls", "queued_on_retry_queue", "requests_before_open"):
        out[key] = sum(run[key] for run in runs)
    for key in ("statuses", "fates"):
        total: Counter[str] = Counter()
        for run in runs:
            total.update(run[key])
        out[key] = dict(total)
    return out


def measure(child: Any) -> dict[str, Any]:
    """Both measures, each run in a fresh child (``child`` is bench.run.child).

    The breaker-off hang runs (~31 s of read timeouts, idle) overlap the others; the
    breaker-on run finishes before the storms start, so its fast path has the CPU.
    """
    from concurrent.futures import ThreadPoolExecutor

    each = str(HANG_REQUESTS // HANG_BEFORE_CONTAINERS)
    with ThreadPoolExecutor(max_workers=HANG_BEFORE_CONTAINERS) as pool:
        before = [pool.submit(child, ["hang", "off", each]) for _ in range(HANG_BEFORE_CONTAINERS)]
        after = child(["hang", "on", str(HANG_REQUESTS)])
        storm_before = child(["storm", "off", str(STORM_SECONDS)])
        storm_after = child(["storm", "on", str(STORM_SECONDS)])
        hang_before = merged([f.result() for f in before])
    return {
        "resilience": {
            "hang": {"before": hang_before, "after": after},
            "storm": {"before": storm_before, "after": storm_after},
        }
    }


ROW = "Richpanel "  # the rows rows() makes start so


def rows(r: dict[str, Any]) -> list[dict[str, Any]]:
    res = r.get("resilience")
    if not res:
        return []
    out: list[dict[str, Any]] = []
    b, a = res["hang"]["before"], res["hang"]["after"]
    out.append(
        {
            "measure": f"{ROW}hanging, breaker off: p99, {b['requests']} 1-event reqs "
            f"({b['richpanel_calls']} calls)",
            "value": b["p99_ms"],
            "unit": "ms",
            "target": None,
            "target_text": f"p50 {b['p50_ms']:.0f} ms, billed {b['billed_ms_per_event']:.0f} ms/ev",
            "met": None,
        }
    )
    open_p99 = a.get("open_p99_ms")
    out.append(
        {
            "measure": f"{ROW}hanging, breaker on: p99 once open ({a.get('open_requests', 0)}"
            f"/{a['requests']} reqs, {a['richpanel_calls']} calls)",
            "value": open_p99,
            "unit": "ms",
            "target": FAST_MS,
            "target_text": f"< {FAST_MS} ms; p50 {a.get('open_p50_ms', float('nan')):.1f}, "
            f"billed {a.get('open_billed_ms_per_event', float('nan')):.1f} ms/ev",
            "met": open_p99 is not None and open_p99 < FAST_MS,
        }
    )
    out.append(
        {
            "measure": f"{ROW}hanging, breaker on: billed ms/event, all {a['requests']} reqs",
            "value": a["billed_ms_per_event"],
            "unit": "ms",
            "target": None,
            "target_text": f"p50 {a['p50_ms']:.1f} / p99 {a['p99_ms']:.0f} ms "
            f"(off: {b['billed_ms_per_event']:.0f})",
            "met": None,
        }
    )
    for key in ("before", "after"):
        s = res["storm"][key]
        label = "pacing on" if s["paced"] else "pacing off"
        out.append(
            {
                "measure": f"{ROW}429 storm, {label}: calls/s ({s['accepted']} ok + "
                f"{s['refused_429']} 429s, {s['seconds']:.0f} s)",
                "value": s["calls_per_s"],
                "unit": "calls/s",
                "target": s["allowed_per_s"],
                "target_text": f"<= {s['allowed_per_s']}/s allowed; peak {s['peak_calls_in_1s']} "
                "in 1 s",
                "met": s["calls_per_s"] <= s["allowed_per_s"],
            }
        )
    return out


def table(r: dict[str, Any]) -> str:
    """A short text view of both measures."""
    res = r["resilience"]
    lines = ["Richpanel hanging (sandbox delay 8 s, read timeout 3 s), single-event requests:"]
    lines.append(
        f"{'breaker':<8} {'reqs':>5} {'p50 ms':>9} {'p99 ms':>9} {'billed/ev':>10} {'calls':>6}"
        f"  {'once open: reqs p50 p99 billed/ev calls':<40}"
    )
    for key in ("before", "after"):
        h = res["hang"][key]
        opened = (
            f"  {h['open_requests']:>4} {h['open_p50_ms']:>6.1f} {h['open_p99_ms']:>6.1f}"
            f" {h['open_billed_ms_per_event']:>8.1f} {h['open_richpanel_calls']:>5}"
            if "open_requests" in h
            else "  (never opened)"
        )
        lines.append(
            f"{'on' if h['breaker'] else 'off':<8} {h['requests']:>5} {h['p50_ms']:>9.1f}"
            f" {h['p99_ms']:>9.1f} {h['billed_ms_per_event']:>10.1f} {h['richpanel_calls']:>6}"
            + opened
        )
    lines.append(
        "429 storm (sandbox: 20 calls/s, Retry-After 1, 50 ms; 320 events/s offered @C=16):"
    )
    lines.append(
        f"{'pacing':<8} {'calls/s':>8} {'accepted/s':>11} {'refused/s':>10} {'peak 1s':>8}"
        "  calls by second"
    )
    for key in ("before", "after"):
        s = res["storm"][key]
        lines.append(
            f"{'on' if s['paced'] else 'off':<8} {s['calls_per_s']:>8.1f}"
            f" {s['accepted_per_s']:>11.1f} {s['refused_per_s']:>10.1f}"
            f" {s['peak_calls_in_1s']:>8}  {s['calls_by_second']}"
        )
    return "\n".join(lines)
