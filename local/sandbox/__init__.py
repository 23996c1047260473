"""Richpanel event-ingest sandbox: a local stand-in for {base}/t and {base}/bt.

Decodes and checks calls independently of the project's encoder, records every ingest
request and can be told to misbehave (status, latency, Retry-After) or to fail a random
share of requests (error statuses, timeouts, connection resets). Control API:

- ``GET /_sandbox/calls[?status=N]``, ``DELETE /_sandbox/calls``
- ``GET /_sandbox/accepted`` (accepted calls per eventId)
- ``GET|POST|DELETE /_sandbox/behaviour`` (POST body: status, delay_ms, retry_after,
  times, body, fail_rate, seed, failures)
- ``GET /_sandbox/health``

Modules: contract (wire decoding and checks), faults (injected behaviour), state (recorded
calls), server (HTTP server, Sandbox, CLI).

Standalone: ``python -m local.sandbox --port 4010 --app-client-id KEY [--secret S]``.
"""

from local.sandbox.contract import (
    SIGNING_CHOICES,
    IngestOutcome,
    SandboxConfig,
    evaluate_ingest,
)
from local.sandbox.faults import Behaviour, Failure, Injection
from local.sandbox.server import CONTROL_PREFIX, Sandbox, main, start_sandbox
from local.sandbox.state import SandboxState

__all__ = [
    "CONTROL_PREFIX",
    "SIGNING_CHOICES",
    "Behaviour",
    "Failure",
    "IngestOutcome",
    "Injection",
    "Sandbox",
    "SandboxConfig",
    "SandboxState",
    "evaluate_ingest",
    "main",
    "start_sandbox",
]
