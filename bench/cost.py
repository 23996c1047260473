"""What a million events cost, from quantities measured here and one dated price list.

``python -m bench.cost OUT`` measures the current code and template (a child of bench.run);
``python -m bench.cost --baseline`` measures them once and writes bench/baseline.json, which
names the commit: every bench run then prices the baseline and the current code with the
same bench/prices.json, so the ratio is honest.

Measured per event, for each traffic shape (events per request) and event mix:

- **Lambda billed ms**: the real handlers run in-process with Richpanel answering after
  ``RICHPANEL_LATENCY_S``; billed = the wait + the CPU time scaled to the configured memory
  (Lambda gives one vCPU at 1,769 MB, a share below), rounded up to 1 ms an invocation; the
  INIT phase (import + first call, billed since 2025-08) amortised over ``COLD_START_EVERY``
  invocations.
- **Log bytes**: everything the handlers write to stdout (their JSON lines and EMF
  metrics), counted at the file descriptor, plus Lambda's START/END/REPORT lines unless the
  template sets SystemLogLevel WARN, plus CloudWatch's 26 bytes per log event.
- **DynamoDB units**: bench/dynamodb.py's write and read units per event by call type,
  priced at the client (both tables).
- **SQS requests**: SendMessageBatch calls counted at the queue stub (10 messages each);
  retried events add the event source mapping's receive and delete (a tenth each) and a
  ChangeMessageVisibility per postponed attempt.
- **API requests** and **X-Ray traces** (sampled share of invocations, from the template).

Shapes: ``single`` (one event a request, classic webhooks), ``actions_batch`` (Segment
Webhooks (Actions), 100 a request), ``sdk_batch`` (an SDK's batch, 20), ``single_outage``
(one a request while Richpanel is down: queued by the open breaker, retried with backoff
through a ``OUTAGE_SECONDS`` outage, then delivered).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import workload

ROOT = Path(__file__).resolve().parents[1]
PRICES = ROOT / "bench" / "prices.json"
BASELINE = ROOT / "bench" / "baseline.json"
SHAPES = {"single": 1, "actions_batch": 100, "sdk_batch": 20, "single_outage": 1}
# Shares of each event kind (names of bench/dynamodb.py's SCENARIOS).
MIXES: dict[str, dict[str, float]] = {
    "track_heavy": {"track": 0.55, "page": 0.15, "track_email": 0.10, "identify": 0.15,
                    "order_completed_email": 0.05},
    "identify_heavy": {"track": 0.25, "page": 0.05, "track_email": 0.10, "identify": 0.50,
                       "order_completed_email": 0.10},
}  # fmt: skip
RICHPANEL_LATENCY_S = 0.1  # Richpanel's answer time assumed (the estimate)
COLD_START_EVERY = 1000  # invocations per container start (assumption; see docs/cost.md)
OUTAGE_SECONDS = 3600  # the single_outage shape: Richpanel down for an hour
VCPU_MB = 1769  # Lambda allocates one vCPU at this memory, a proportional share below
# Lambda's own lines per invocation in the text format (sizes of AWS's documented examples)
PLATFORM_LINES = {"START": 112, "END": 72, "REPORT": 290}
LOG_EVENT_OVERHEAD = 26  # bytes CloudWatch counts per log event
DYNAMODB_CALL_S = 0.005  # a DynamoDB call's round trip in-region (the stubs make none)
XRAY_DEFAULT_RATE = 0.05  # the default sampling rule (plus 1 a second, negligible at scale)
RUNS = {"single": 12, "actions_batch": 3, "sdk_batch": 6}


def template_facts() -> dict[str, Any]:
    """What of template.yaml's defaults the price depends on."""
    from local.template import Template

    template = Template.load()
    globals_ = (template.data.get("Globals") or {}).get("Function") or {}
    resources = template.data.get("Resources") or {}
    kinds = {r.get("Type") for r in resources.values()}
    defaults = template.parameter_defaults()
    api = "http" if defaults.get("ApiKind", "rest") == "http" else "rest"
    if "AWS::Serverless::Api" not in kinds and "AWS::Serverless::HttpApi" in kinds:
        api = "http"
    arch = (globals_.get("Architectures") or ["x86_64"])[0]
    logging = globals_.get("LoggingConfig") or {}
    rate = XRAY_DEFAULT_RATE
    for resource in resources.values():
        if resource.get("Type") == "AWS::XRay::SamplingRule":
            rule = (resource.get("Properties") or {}).get("SamplingRule") or {}
            fixed = rule.get("FixedRate")
            if isinstance(fixed, dict) and "Ref" in fixed:
                fixed = defaults.get(fixed["Ref"])
            rate = float(fixed) if isinstance(fixed, int | float | str) else rate
    memory = globals_.get("MemorySize", 128)
    return {
        "api": api,
        "architecture": arch,
        "memory_mb": int(memory) if isinstance(memory, int | str) else 256,
        "platform_lines": logging.get("SystemLogLevel") not in ("WARN", "ERROR"),
        "xray_rate": rate,
    }


# ------------------------------------------------------------------ in the child process


class SlowRichpanel(workload.StubRichpanel):
    """The stub, answering after RICHPANEL_LATENCY_S (or held: the breaker is open)."""

    def __init__(self) -> None:
        super().__init__()
        self.open = False

    def held(self) -> Any:
        from richpanel_destination.richpanel.outcomes import Kind, Outcome

        if self.open:
            return Outcome(Kind.RETRYABLE, "not sent: Richpanel circuit open", retry_after=30)
        return None

    def send(self, call: Any, credentials: Any = None, within: float | None = None) -> Any:
        time.sleep(RICHPANEL_LATENCY_S)
        return super().send(call, credentials, within)


class Output:
    """Bytes and lines written to fd 1 (the handlers' stdout), read back from a file."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile()  # noqa: SIM115 - open until close()
        sys.stdout.flush()
        self.saved = os.dup(1)
        os.dup2(self.file.fileno(), 1)
        self.mark = 0

    def take(self) -> tuple[int, int]:
        """(bytes, lines) since the last take."""
        sys.stdout.flush()
        end = self.file.seek(0, os.SEEK_END)
        self.file.seek(self.mark)
        text = self.file.read(end - self.mark)
        self.mark = end
        return len(text), text.count(b"\n")

    def close(self) -> None:
        sys.stdout.flush()
        os.dup2(self.saved, 1)


def _invoke(call: Callable[[], Any], output: Output) -> dict[str, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    size, lines = output.take()
    return {"wall_s": wall, "cpu_s": cpu, "log_bytes": size, "log_lines": lines}


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}


def _batch(mix: Mapping[str, float], size: int, serial: list[int]) -> list[dict[str, Any]]:
    """``size`` events of the mix (whole numbers of each kind, largest shares first)."""
    from bench.dynamodb import SCENARIOS, Clock

    clock, events = Clock(), []
    counts = {k: round(share * size) for k, share in mix.items()}
    while sum(counts.values()) < size:
        counts[max(mix, key=mix.__getitem__)] += 1
    for kind, count in counts.items():
        for _ in range(count):
            serial[0] += 1
            event = SCENARIOS[kind](f"cost-user-{serial[0]}")
            event["messageId"] = f"cost-{serial[0]:07d}"
            event["timestamp"] = clock.next()
            events.append(event)
    return events[:size]


def measure_handlers() -> dict[str, Any]:
    """Per-invocation handler quantities for each shape and mix, and the cold start."""
    workload.add_paths()
    started, cpu_started = time.perf_counter(), time.process_time()  # the INIT phase
    _, queues = workload.install_stubs()
    sqs_calls = count_postpones(queues)
    output = Output()
    try:
        slow = SlowRichpanel()
        from richpanel_destination import runtime

        runtime.richpanel = lambda: slow  # type: ignore[assignment]
        ingest = workload.load_handler("ingest")
        retry = workload.load_handler("retry")
        serial = [0]

        def post(events: list[dict[str, Any]]) -> Any:
            body = json.dumps(events[0] if len(events) == 1 else {"batch": events})
            path = "/v1/track" if len(events) == 1 else "/v1/batch"
            if len(events) == 1:
                path = {"identify": "/v1/identify", "page": "/v1/page"}.get(
                    str(events[0].get("type")), "/v1/track"
                )
            return ingest(workload.proxy_event(path, body), workload.FakeContext())

        first = _batch(MIXES["track_heavy"], 1, serial)
        post(first)  # the cold start: imports done above, the first call's lazy work here
        init = {
            "wall_s": time.perf_counter() - started,
            "cpu_s": time.process_time() - cpu_started,
        }
        output.take()
        out: dict[str, Any] = {"init": init, "shapes": {}}
        for mix_name, mix in MIXES.items():
            shapes: dict[str, Any] = {}
            for kind in mix:  # single: per event kind, mixed by share afterwards
                rows = []
                for _ in range(RUNS["single"]):
                    event = _batch({kind: 1.0}, 1, serial)
                    rows.append(_invoke(lambda e=event: post(e), output))
                shapes.setdefault("single_by_kind", {})[kind] = _mean(rows)
            for shape in ("actions_batch", "sdk_batch"):
                size = SHAPES[shape]
                rows = []
                for _ in range(RUNS[shape]):
                    queues.parked = 0
                    batch = _batch(mix, size, serial)
                    row = _invoke(lambda b=batch: post(b), output)
                    rows.append(row | {"queued": queues.parked})
                shapes[shape] = _mean(rows)
            out["shapes"][mix_name] = shapes
        # single_outage: ingest held by the open breaker (queued), then the retry path
        slow.open = True
        rows = []
        for _ in range(RUNS["single"]):
            queues.parked = 0
            event = _batch(MIXES["track_heavy"], 1, serial)
            rows.append(_invoke(lambda e=event: post(e), output) | {"queued": queues.parked})
        out["outage_ingest"] = _mean(rows)
        records = _retry_records(10)
        sqs_calls[0] = 0
        rows = [_invoke(lambda: retry(records, workload.FakeContext()), output)]
        out["retry_held_batch"] = _mean(rows) | {"sqs_calls": sqs_calls[0]}  # 10 postponed
        slow.open = False
        rows = [_invoke(lambda: retry(_retry_records(10), workload.FakeContext()), output)]
        out["retry_delivered_batch"] = _mean(rows)
        return out
    finally:
        output.close()


def count_postpones(queues: Any) -> list[int]:
    """Count the SQS calls the queue stub's postpones would make (one, or one per ten)."""
    calls = [0]
    single, many = queues.postpone, getattr(queues, "postpone_many", None)

    def postpone(*args: Any) -> None:
        calls[0] += 1
        single(*args)

    def postpone_many(postpones: list[Any]) -> int:
        calls[0] += math.ceil(len(postpones) / 10)
        return int(many(postpones)) if many is not None else 0

    queues.postpone = postpone
    if many is not None:  # the code measured batches its postpones
        queues.postpone_many = postpone_many
    return calls


def _retry_records(count: int) -> dict[str, Any]:
    """An SQS event of ``count`` queued tracks, sent to the queue just now."""
    import copy

    from richpanel_destination.delivery.queues import envelope

    template = workload.sqs_event()["Records"][0]
    records = []
    now = str(int(time.time() * 1000))
    for n in range(count):
        record = copy.deepcopy(template)
        event = {"type": "track", "messageId": f"retry-{n}-{time.time_ns()}", "userId": "u",
                 "event": "Clicked", "timestamp": "2026-12-01T09:00:00Z"}  # fmt: skip
        record["body"] = envelope(event, 1, "Richpanel answered 503")
        record["messageId"] = f"sqs-{n}"
        record["attributes"]["SentTimestamp"] = now
        record["messageAttributes"]["messageId"]["stringValue"] = event["messageId"]
        records.append(record)
    return {"Records": records}


def measure() -> dict[str, Any]:
    """Everything the price needs: the template, the handlers' quantities, DynamoDB units."""
    from bench import dynamodb

    units = dynamodb.measure()["dynamodb_units_per_event"]
    return {
        "template": template_facts(),
        "handlers": measure_handlers(),
        "dynamodb": {kind: {"wru": u["total_wru"], "rru": u["rru"]} for kind, u in units.items()},
    }


# ------------------------------------------------------------------ pricing


def _billed_ms(row: Mapping[str, float], memory_mb: int) -> float:
    """Billed ms of one invocation: the wait plus the CPU at this memory's vCPU share."""
    cpu = row["cpu_s"]
    wait = max(0.0, row["wall_s"] - cpu)
    return math.ceil((wait + cpu * max(1.0, VCPU_MB / memory_mb)) * 1000)


def _log_bytes(row: Mapping[str, float], facts: Mapping[str, Any]) -> float:
    lines = row["log_lines"] + (len(PLATFORM_LINES) if facts["platform_lines"] else 0)
    platform = sum(PLATFORM_LINES.values()) if facts["platform_lines"] else 0
    return row["log_bytes"] + platform + LOG_EVENT_OVERHEAD * lines


def quantities(measured: Mapping[str, Any], mix_name: str) -> dict[str, dict[str, float]]:
    """Per-event quantities of each shape, for one mix."""
    facts = measured["template"]
    handlers = measured["handlers"]
    mix = MIXES[mix_name]
    memory = facts["memory_mb"]
    units = measured["dynamodb"]
    shapes = handlers["shapes"][mix_name]
    init_ms = _billed_ms({"wall_s": handlers["init"]["wall_s"], "cpu_s": handlers["init"]["cpu_s"]},
                         memory)  # fmt: skip
    wru = sum(share * units[kind]["wru"] for kind, share in mix.items())
    rru = sum(share * units[kind]["rru"] for kind, share in mix.items())
    out: dict[str, dict[str, float]] = {}

    def shape(row: Mapping[str, float], per: int, queued: float = 0.0) -> dict[str, float]:
        invocations = 1 / per
        # each write unit is about one DynamoDB call; a batch's calls overlap 16 at a time
        store_ms = 1000 * DYNAMODB_CALL_S * wru * per / (1 if per == 1 else 16)
        return {
            "api_requests": invocations,
            "lambda_invocations": invocations,
            "lambda_gb_s": invocations
            * (_billed_ms(row, memory) + store_ms + init_ms / COLD_START_EVERY)
            / 1000
            * memory
            / 1024,
            "log_bytes": _log_bytes(row, facts) * invocations,
            "dynamodb_wru": wru,
            "dynamodb_rru": rru,
            "sqs_requests": math.ceil(queued / 10) * invocations if queued else 0.0,
            "xray_traces": facts["xray_rate"] * invocations,
        }

    single = shapes["single_by_kind"]
    mixed = {k: sum(share * single[kind][k] for kind, share in mix.items()) for k in
             next(iter(single.values()))}  # fmt: skip
    out["single"] = shape(mixed, 1)
    for name in ("actions_batch", "sdk_batch"):
        out[name] = shape(shapes[name], SHAPES[name], shapes[name]["queued"])
    # single_outage: held at ingest and queued (1 SendMessageBatch each), then the retry path:
    # held receives while down (a tenth of a batch invocation each, plus its visibility
    # change), then one delivering receive (a tenth of a batch), its delete a tenth.
    outage = shape(handlers["outage_ingest"], 1, 1)
    outage["dynamodb_wru"] = wru  # delivered once in the end: the same units
    held = attempts_during(OUTAGE_SECONDS)
    retry_held, retry_ok = handlers["retry_held_batch"], handlers["retry_delivered_batch"]
    retry_invocations = (held + 1) / 10
    retry_ms = held / 10 * _billed_ms(retry_held, memory) + _billed_ms(retry_ok, memory) / 10
    outage["lambda_invocations"] += retry_invocations
    outage["lambda_gb_s"] += retry_ms / 1000 * memory / 1024
    outage["log_bytes"] += (
        held / 10 * _log_bytes(retry_held, facts) + _log_bytes(retry_ok, facts) / 10
    )
    postpones = retry_held.get("sqs_calls", 10) / 10  # visibility changes per held attempt
    outage["sqs_requests"] += (held + 1) / 10 + held * postpones + 1 / 10  # + receive, delete
    outage["xray_traces"] += XRAY_DEFAULT_RATE * retry_invocations  # the rule is the API's
    out["single_outage"] = outage
    return out


def attempts_during(seconds: float, base: float = 10.0, cap: float = 3600.0) -> int:
    """Retry attempts (receives) an event gets during an outage: mean full-jitter delays."""
    spent, attempts = 0.0, 0
    while True:
        mean = min(cap, base * 2**attempts) / 2
        if spent + mean > seconds:
            return attempts
        spent += mean
        attempts += 1


def price(q: Mapping[str, float], facts: Mapping[str, Any], usd: Mapping[str, float]) -> dict:
    """Dollars per million events, by cost line."""
    api = usd["http_api_request" if facts["api"] == "http" else "rest_api_request"]
    gb_s = usd[f"lambda_gb_second_{facts['architecture']}"]
    lines = {
        "api": q["api_requests"] * api,
        "lambda_requests": q["lambda_invocations"] * usd["lambda_request"],
        "lambda_duration": q["lambda_gb_s"] * gb_s,
        "dynamodb": q["dynamodb_wru"] * usd["dynamodb_wru"]
        + q["dynamodb_rru"] * usd["dynamodb_rru"],
        "logs": q["log_bytes"] / 1e9 * usd["logs_ingested_gb_standard"],
        "sqs": q["sqs_requests"] * usd["sqs_request"],
        "xray": q["xray_traces"] * usd["xray_trace"],
    }
    return {k: round(v * 1e6, 4) for k, v in lines.items()}


def cost_per_million(now: Mapping[str, Any], baseline: Mapping[str, Any]) -> dict[str, Any]:
    """results.json's ``cost_per_million_events``: baseline and now, by shape and mix."""
    usd = json.loads(PRICES.read_text(encoding="utf-8"))["usd"]
    out: dict[str, Any] = {}
    for mix in MIXES:
        then_q, now_q = quantities(baseline, mix), quantities(now, mix)
        for shape in SHAPES:
            then_lines = price(then_q[shape], baseline["template"], usd)
            now_lines = price(now_q[shape], now["template"], usd)
            key = shape if mix == "track_heavy" else f"{shape}_{mix}"
            out[key] = {
                "baseline_usd": round(sum(then_lines.values()), 3),
                "now_usd": round(sum(now_lines.values()), 3),
                "lines": now_lines,
                "baseline_lines": then_lines,
                "mix": mix,
                "quantities": {k: round(v, 6) for k, v in now_q[shape].items()},
            }
            if mix == "track_heavy" and now["template"]["api"] != "http":
                # the same code with ApiKind=http (docs/deploy.md): what that choice is worth
                http = price(now_q[shape], dict(now["template"], api="http"), usd)
                out[f"{shape}_with_http_api"] = out[key] | {
                    "now_usd": round(sum(http.values()), 3),
                    "lines": http,
                }
    return out


MEMORY_SIZES = (128, 256, 512, 1024)  # MB, the sizes the sweep prices
BUDGET_S = 4.0  # ingest's default delivery budget (settings.py delivery_budget)


def memory_sweep(measured: Mapping[str, Any]) -> dict[str, Any]:
    """The current code priced at each memory size, with what each size costs in time.

    ``init_ms``: the cold start's billed ms (imports and the first call) at that size;
    ``batch_cpu_ms``: a 100-event batch's CPU at that size's vCPU share, which ingest's
    ``BUDGET_S`` must also hold the Richpanel calls in.
    """
    usd = json.loads(PRICES.read_text(encoding="utf-8"))["usd"]
    handlers = measured["handlers"]
    batch = handlers["shapes"]["track_heavy"]["actions_batch"]
    out: dict[str, Any] = {}
    for memory in MEMORY_SIZES:
        facts = dict(measured["template"], memory_mb=memory)
        sized = dict(measured, template=facts)
        q = quantities(sized, "track_heavy")
        share = max(1.0, VCPU_MB / memory)
        row: dict[str, Any] = {
            shape: round(sum(price(q[shape], facts, usd).values()), 3)
            for shape in ("single", "actions_batch", "sdk_batch", "single_outage")
        }
        row["init_ms"] = _billed_ms(handlers["init"], memory)
        row["batch_cpu_ms"] = round(batch["cpu_s"] * share * 1000)
        row["batch_cpu_share_of_budget"] = round(batch["cpu_s"] * share / BUDGET_S, 3)
        out[str(memory)] = row
    return out


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def main(argv: list[str]) -> None:
    """``--baseline``: write bench/baseline.json; ``OUT``: the cost results as JSON."""
    workload.add_paths()
    measured = measure()
    if argv == ["--baseline"]:
        baseline = {"commit": commit(), "measured": datetime.now(UTC).isoformat()} | measured
        BASELINE.write_text(json.dumps(baseline, indent=2) + "\n", encoding="utf-8")
        return
    baseline = json.loads(BASELINE.read_text(encoding="utf-8"))
    result = {
        "cost_per_million_events": cost_per_million(measured, baseline),
        "cost_baseline_commit": baseline["commit"],
        "cost_memory_sweep": memory_sweep(measured),
        "cost_assumptions": {
            "richpanel_latency_s": RICHPANEL_LATENCY_S,
            "cold_start_every": COLD_START_EVERY,
            "outage_seconds": OUTAGE_SECONDS,
            "mixes": MIXES,
            "prices_checked": json.loads(PRICES.read_text(encoding="utf-8"))["checked"],
        },
    }
    Path(argv[0]).write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])


# ------------------------------------------------------------------ report

LINES = ("api", "lambda_requests", "lambda_duration", "dynamodb", "logs", "sqs", "xray")


def table(r: Mapping[str, Any]) -> str:
    """The cost table bench.run prints (and the README carries)."""
    cost = r.get("cost_per_million_events") or {}
    head = f"{'shape':34} {'baseline $/M':>12} {'now $/M':>9} {'ratio':>6}  " + " ".join(
        f"{line[:9]:>9}" for line in LINES
    )
    rows = [head]
    for shape, c in cost.items():
        ratio = c["now_usd"] / c["baseline_usd"] if c["baseline_usd"] else 0
        rows.append(
            f"{shape:34} {c['baseline_usd']:12.3f} {c['now_usd']:9.3f} {ratio:6.2f}  "
            + " ".join(f"{c['lines'][line]:9.3f}" for line in LINES)
        )
    return "\n".join(rows)


def plot(r: Mapping[str, Any], path: Path) -> None:
    """A stacked bar per shape, baseline beside now, by cost line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cost = r["cost_per_million_events"]
    shapes = list(cost)
    fig, ax = plt.subplots(figsize=(14, 5))
    for offset, which in ((-0.2, "baseline_lines"), (0.2, "lines")):
        bottom = [0.0] * len(shapes)
        for n, line in enumerate(LINES):
            values = [cost[s][which][line] for s in shapes]
            ax.bar([i + offset for i in range(len(shapes))], values, 0.38, bottom=bottom,
                   color=f"C{n}", label=line if which == "lines" else None,
                   alpha=0.45 if which == "baseline_lines" else 1.0)  # fmt: skip
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_xticks(range(len(shapes)), [s.replace("_", "\n", 1) for s in shapes], fontsize=8)
    ax.set_ylabel("USD per million events")
    ax.set_title("cost per million events by line: baseline (light, left) and now (right)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


README = ROOT / "README.md"
START, END = "<!-- cost-table:start -->", "<!-- cost-table:end -->"


def markdown(r: Mapping[str, Any]) -> str:
    """The README's cost table."""
    rows = [
        "| shape (mix) | baseline $/M | now $/M | now / baseline | API | Lambda req | "
        "Lambda duration | DynamoDB | logs | SQS | X-Ray |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for shape, c in r["cost_per_million_events"].items():
        line = c["lines"]
        rows.append(
            f"| `{shape}` | {c['baseline_usd']:.2f} | {c['now_usd']:.2f} | "
            f"{c['now_usd'] / c['baseline_usd']:.2f} | "
            + " | ".join(f"{line[k]:.3f}" for k in LINES)
            + " |"
        )
    return "\n".join(rows)


def update_readme(r: Mapping[str, Any]) -> None:
    """Rewrite the table between the README's cost-table markers."""
    text = README.read_text(encoding="utf-8")
    if START not in text or END not in text:
        return
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{markdown(r)}\n{END}{tail}", encoding="utf-8")
