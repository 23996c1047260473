"""Log bytes per event (issue 18): the function output the real handlers write, in-process.

``measure()`` runs a fresh child process (``python -m bench.log_bytes --child``) that loads
functions/ingest/app.py and functions/retry/app.py with the stubs of bench/workload.py, an
environment as Lambda's (service = stack name, an X-Ray trace id, a stack-style function
name), replaces ``sys.stdout`` before anything is imported, and counts the UTF-8 bytes each
invocation writes: the Powertools log lines and the EMF metric lines, i.e. everything
CloudWatch Logs ingests from the function itself. Lambda's own START/END/REPORT lines are
not the function's output: ``PLATFORM_LINES_BYTES`` estimates them (0 with the template's
``SystemLogLevel: WARN``).

Returned (bytes, int):
- ``ingest_single_track``: one delivered track, /v1/track (one invocation);
- ``ingest_single_identify``: one delivered identify, /v1/identify;
- ``ingest_batch_100_per_event``: one /v1/batch of 100 delivered tracks, divided by 100;
- ``retry_attempt``: one SQS record delivered on its retry (one invocation, one record);
- ``retry_later``: one SQS record whose retry fails again (Richpanel 503: "retry later").

``python -m bench.log_bytes`` prints the figures, and each scenario's lines with ``-v``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# START, END and REPORT of one invocation in Lambda's text format, as in AWS's docs examples
# (a REPORT with Init Duration and an X-Ray segment line is longer): ~90 + ~60 + ~200 bytes,
# plus CloudWatch's 26 bytes of overhead per log event. 0 with LoggingConfig SystemLogLevel
# WARN (template.yaml): Lambda then writes none of them.
PLATFORM_LINES_BYTES = 350
PLATFORM_LINES_BYTES_WITH_SYSTEM_LOG_LEVEL_WARN = 0

ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "richpanel-destination",
    "POWERTOOLS_METRICS_NAMESPACE": "RichpanelDestination",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "LOG_PERSONAL_DATA": "false",
    "_X_AMZN_TRACE_ID": (
        "Root=1-65f2a1b3-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"
    ),
}
LATENCY_MS = 143.27


def measure() -> dict[str, int]:
    """Bytes of function output per scenario (see the module docstring), in a fresh process."""
    return {k: v["bytes"] for k, v in _run_child().items()}


def _run_child() -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)])
    done = subprocess.run(
        [sys.executable, "-m", "bench.log_bytes", "--child"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


class _Capture:
    """A stand-in for sys.stdout: keeps what is written."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        return None

    def isatty(self) -> bool:
        return False

    def take(self) -> str:
        text, self.parts = "".join(self.parts), []
        return text


def _child() -> None:
    real = sys.stdout
    capture = _Capture()
    sys.stdout = capture  # before any Logger binds a stream
    os.environ.update(ENVIRONMENT)
    from bench import workload

    workload.add_paths()
    richpanel, _queues = workload.install_stubs()
    os.environ.update(ENVIRONMENT)  # over the stubs' service name: the stack's
    from richpanel_destination.richpanel.outcomes import Kind, Outcome

    answer = {"kind": Kind.DELIVERED}

    def send(call: Any, credentials: Any = None, within: float | None = None) -> Outcome:
        richpanel.sent += 1
        if answer["kind"] is Kind.DELIVERED:
            return Outcome(Kind.DELIVERED, "Richpanel answered 200", 200, latency_ms=LATENCY_MS)
        return Outcome(
            Kind.RETRYABLE, "Richpanel answered 503", 503, latency_ms=LATENCY_MS, retry_after=None
        )

    richpanel.send = send  # type: ignore[method-assign]
    ingest = workload.load_handler("ingest")
    retry = workload.load_handler("retry")

    def context(function: str) -> Any:
        ctx = workload.FakeContext()
        ctx.function_name = f"richpanel-destination-{function}-AbC123dEf456"
        ctx.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{ctx.function_name}"
        )
        ctx.memory_limit_in_mb = 256
        ctx.log_group_name = f"/aws/lambda/richpanel-destination/{function}"
        return ctx

    def post(route: str, body: Any) -> str:
        event = workload.proxy_event(f"/v1/{route}", json.dumps(body))
        result = ingest(event, context("IngestFunction"))
        assert result["statusCode"] == 200, result
        return capture.take()

    def sqs(kind: Kind) -> str:
        answer["kind"] = kind
        event = workload.sqs_event()
        now_ms = str(int(time.time() * 1000))  # within the retry window
        event["Records"][0]["attributes"]["SentTimestamp"] = now_ms
        retry(event, context("RetryFunction"))
        answer["kind"] = Kind.DELIVERED
        return capture.take()

    post("track", workload.body_of("track"))  # the cold start's own lines, not counted
    sqs(Kind.DELIVERED)
    batch = {"batch": workload.tracks(100, "bench-log")}
    scenarios = {
        "ingest_single_track": (post("track", workload.body_of("track")), 1),
        "ingest_single_identify": (post("identify", workload.body_of("identify")), 1),
        "ingest_batch_100_per_event": (post("batch", batch), 100),
        "retry_attempt": (sqs(Kind.DELIVERED), 1),
        "retry_later": (sqs(Kind.RETRYABLE), 1),
    }
    out = {
        name: {"bytes": round(len(text.encode("utf-8")) / events), "lines": text.splitlines()}
        for name, (text, events) in scenarios.items()
    }
    sys.stdout = real
    print(json.dumps(out))


def main(argv: list[str]) -> None:
    if "--child" in argv:
        _child()
        return
    results = _run_child()
    for name, found in results.items():
        print(f"{name:30} {found['bytes']:6,} bytes")
        if "-v" in argv:
            for line in found["lines"] if name != "ingest_batch_100_per_event" else []:
                print(f"    {len(line.encode('utf-8')) + 1:5}  {line}")
    print(f"{'platform START/END/REPORT':30} {PLATFORM_LINES_BYTES:6,} bytes (0 at WARN)")


if __name__ == "__main__":
    main(sys.argv[1:])
