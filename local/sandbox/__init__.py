"""Richpanel event-ingest sandbox: a local stand-in for {base}/t and {base}/bt.

Decodes and checks calls independently of the project's encoder, records every ingest
request, answers 200 to a well-formed call with an unknown appClientId or a bad signature
and records it as dropped (``strict``: 401, as before), builds a customer store from the
accepted calls with Richpanel's REST read-back over it
(``GET {rest_path}/{email|phone|uid}/{value}`` with ``x-richpanel-key``), and can be
told to misbehave (status, latency, Retry-After), to fail a random share of requests
(error statuses, timeouts, connection resets) or to rate-limit them (429 beyond N
requests a second). Control API:

- ``GET /_sandbox/calls[?status=N]``, ``DELETE /_sandbox/calls`` (also empties the store)
- ``GET /_sandbox/accepted`` (accepted calls per eventId)
- ``GET|POST|DELETE /_sandbox/behaviour`` (POST body: status, delay_ms, retry_after,
  times, body, fail_rate, seed, failures, rate_limit)
- ``GET /_sandbox/health``

Modules: contract (wire decoding and checks), faults (injected behaviour), state (recorded
calls), customers (customer store, REST read-back), server (HTTP server, Sandbox, CLI).

Standalone: ``python -m local.sandbox --port 4010 --app-client-id KEY [--secret S]
[--strict] [--rest-key K] [--visible-after-ms MS] [--rest-path /v1/customers]``.
"""

from local.sandbox.contract import (
    SIGNING_CHOICES,
    IngestOutcome,
    SandboxConfig,
    evaluate_ingest,
)
from local.sandbox.customers import CustomerStore, read_back
from local.sandbox.faults import Behaviour, Failure, Injection, RateLimit
from local.sandbox.server import CONTROL_PREFIX, Sandbox, main, start_sandbox
from local.sandbox.state import SandboxState

__all__ = [
    "CONTROL_PREFIX",
    "SIGNING_CHOICES",
    "Behaviour",
    "CustomerStore",
    "Failure",
    "IngestOutcome",
    "Injection",
    "RateLimit",
    "Sandbox",
    "SandboxConfig",
    "SandboxState",
    "evaluate_ingest",
    "main",
    "read_back",
    "start_sandbox",
]
