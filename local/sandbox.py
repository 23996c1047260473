"""Richpanel event-ingest sandbox: a local stand-in for {base}/t and {base}/bt.

Decodes and checks calls independently of the project's encoder, records every ingest
request and can be told to misbehave (status, latency, Retry-After) or to fail a random
share of requests (error statuses, timeouts, connection resets). Control API:

- ``GET /_sandbox/calls[?status=N]``, ``DELETE /_sandbox/calls``
- ``GET /_sandbox/accepted`` (accepted calls per eventId)
- ``GET|POST|DELETE /_sandbox/behaviour`` (POST body: status, delay_ms, retry_after,
  times, body, fail_rate, seed, failures)
- ``GET /_sandbox/health``

Standalone: ``python -m local.sandbox --port 4010 --app-client-id KEY [--secret S]``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local._http import BackgroundServer, LocalHTTPServer, QuietHandler, ServerThread

SIGNING_CHOICES = ("none", "md5", "sha256")
CONTROL_PREFIX = "/_sandbox/"
_INGEST_PATH = re.compile(r"^/(?P<version>[^/_][^/]*)/(?P<kind>t|bt)/?$")


_BEHAVIOUR_FIELDS = {"status", "delay_ms", "retry_after", "times", "body"}
_CHAOS_FIELDS = {"fail_rate", "seed", "failures"}


@dataclass(frozen=True)
class Failure:
    """One kind of injected failure: an error status, a timeout or a connection reset."""

    status: int | None = None
    retry_after: int | None = None
    body: Any = None
    timeout_ms: float | None = None
    reset: bool = False

    def to_json(self) -> dict[str, Any]:
        """JSON view, in the shape it was given."""
        if self.reset:
            return {"reset": True}
        if self.timeout_ms is not None:
            return {"timeout_ms": self.timeout_ms}
        view: dict[str, Any] = {"status": self.status}
        if self.retry_after is not None:
            view["retry_after"] = self.retry_after
        if self.body is not None:
            view["body"] = self.body
        return view

    @classmethod
    def from_json(cls, payload: Any) -> Failure:
        """Validate one entry of `failures`."""
        if not isinstance(payload, dict):
            raise ValueError("each failure must be a JSON object")
        kinds = [kind for kind in ("status", "timeout_ms", "reset") if kind in payload]
        if len(kinds) != 1:
            raise ValueError("each failure needs exactly one of status, timeout_ms, reset")
        allowed = {"status", "retry_after", "body"} if kinds == ["status"] else set(kinds)
        unknown = set(payload) - allowed
        if unknown:
            raise ValueError(f"unknown fields for a {kinds[0]} failure: {sorted(unknown)}")
        if kinds == ["reset"]:
            if payload["reset"] is not True:
                raise ValueError("reset must be true")
            return cls(reset=True)
        if kinds == ["timeout_ms"]:
            timeout_ms = payload["timeout_ms"]
            if not _is_number(timeout_ms) or timeout_ms < 0:
                raise ValueError("timeout_ms must be a non-negative number")
            return cls(timeout_ms=timeout_ms)
        status = payload["status"]
        if not _is_int(status) or not 100 <= status <= 599:
            raise ValueError("failure status must be an HTTP status code")
        retry_after = payload.get("retry_after")
        if retry_after is not None and (not _is_int(retry_after) or retry_after < 0):
            raise ValueError("retry_after must be a non-negative integer or null")
        return cls(status=status, retry_after=retry_after, body=payload.get("body"))


@dataclass
class Behaviour:
    """Injected misbehaviour for the next `times` ingest requests (None = until reset).

    Every such request waits delay_ms; then, with probability fail_rate, it fails in one
    of the `failures` ways (chosen uniformly); otherwise it answers `status` when set, or
    normally.
    """

    status: int | None = None
    delay_ms: float = 0
    retry_after: int | None = None
    times: int | None = None
    body: Any = None
    fail_rate: float | None = None
    seed: int | None = None
    failures: tuple[Failure, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """JSON view (times = how many requests it still applies to)."""
        view = {
            "status": self.status,
            "delay_ms": self.delay_ms,
            "retry_after": self.retry_after,
            "times": self.times,
            "body": self.body,
        }
        if self.fail_rate is not None:
            view["fail_rate"] = self.fail_rate
            view["seed"] = self.seed
            view["failures"] = [failure.to_json() for failure in self.failures]
        return view

    @classmethod
    def from_json(cls, payload: Any) -> Behaviour:
        """Validate a POST /_sandbox/behaviour body."""
        if not isinstance(payload, dict):
            raise ValueError("behaviour must be a JSON object")
        unknown = set(payload) - _BEHAVIOUR_FIELDS - _CHAOS_FIELDS
        if unknown:
            raise ValueError(f"unknown behaviour fields: {sorted(unknown)}")
        status = payload.get("status")
        if status is not None and (not _is_int(status) or not 100 <= status <= 599):
            raise ValueError("status must be an HTTP status code")
        delay_ms = payload.get("delay_ms") or 0
        if not _is_number(delay_ms) or delay_ms < 0:
            raise ValueError("delay_ms must be a non-negative number")
        retry_after = payload.get("retry_after")
        if retry_after is not None and (not _is_int(retry_after) or retry_after < 0):
            raise ValueError("retry_after must be a non-negative integer or null")
        times = payload.get("times")
        if times is not None and (not _is_int(times) or times < 1):
            raise ValueError("times must be a positive integer or null")
        fail_rate, seed, failures = _chaos_from_json(payload)
        return cls(
            status, delay_ms, retry_after, times, payload.get("body"), fail_rate, seed, failures
        )


def _chaos_from_json(
    payload: dict[str, Any],
) -> tuple[float | None, int | None, tuple[Failure, ...]]:
    """fail_rate, seed and failures of a behaviour body (fail_rate defaults to 1 with failures)."""
    raw_failures = payload.get("failures")
    if raw_failures is not None and not isinstance(raw_failures, list):
        raise ValueError("failures must be a list")
    failures = tuple(Failure.from_json(item) for item in raw_failures or ())
    fail_rate = payload.get("fail_rate")
    if fail_rate is None and failures:
        fail_rate = 1.0
    if fail_rate is not None and (not _is_number(fail_rate) or not 0 <= fail_rate <= 1):
        raise ValueError("fail_rate must be a number from 0 to 1")
    if fail_rate and not failures:
        raise ValueError("fail_rate needs a non-empty failures list")
    seed = payload.get("seed")
    if seed is not None and not _is_int(seed):
        raise ValueError("seed must be an integer or null")
    if seed is not None and fail_rate is None:
        raise ValueError("seed needs fail_rate and failures")
    return (None if fail_rate is None else float(fail_rate)), seed, failures


@dataclass(frozen=True)
class Injection:
    """What the behaviour does to one ingest request."""

    delay_ms: float = 0
    status: int | None = None
    retry_after: int | None = None
    body: Any = None
    failure: Failure | None = None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _injected(what: str, error: str | None) -> str:
    return f"injected {what}" + (f" ({error})" if error else "")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class IngestOutcome:
    """How an ingest request is answered and what is recorded for it."""

    status: int
    body: dict[str, Any]
    signature_valid: bool | None
    calls: list[Any]
    error: str | None
    batch_events: bool = False


@dataclass
class SandboxConfig:
    """Credentials the sandbox accepts."""

    app_client_id: str
    secret: str | None = None
    signing: str = "md5"

    def __post_init__(self) -> None:
        """Validate the signing scheme."""
        if self.signing not in SIGNING_CHOICES:
            raise ValueError(f"signing must be one of {SIGNING_CHOICES}")

    def expected_signature(self, encoded: str) -> str | None:
        """Hex signature of the encoded call, or None when calls are not signed."""
        if not self.secret or self.signing == "none":
            return None
        digest = hashlib.md5 if self.signing == "md5" else hashlib.sha256
        return digest((encoded + self.secret).encode("utf-8")).hexdigest()


def _error(
    status: int, message: str, signature_valid: bool | None, calls: list[Any]
) -> IngestOutcome:
    return IngestOutcome(status, {"error": message}, signature_valid, calls, message)


def evaluate_ingest(kind: str, raw: bytes, config: SandboxConfig) -> IngestOutcome:
    """Check one /t ("t") or /bt ("bt") request body the way the sandbox answers it."""
    field_name = "h" if kind == "t" else "hs"
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        body = None
    if not isinstance(body, dict):
        return _error(400, "body is not a JSON object", None, [None])
    encoded = body.get(field_name)
    if not isinstance(encoded, str) or not encoded:
        return _error(400, f"{field_name} is required", None, [None])
    expected = config.expected_signature(encoded)
    signature_valid: bool | None = None
    if expected is not None:
        sent = body.get("s")
        signature_valid = isinstance(sent, str) and hmac.compare_digest(sent.lower(), expected)
    try:
        decoded = json.loads(base64.b64decode(encoded, validate=True).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = None
    if not isinstance(decoded, dict):
        message = f"{field_name} is not base64 of a UTF-8 JSON object"
        return _error(400, message, signature_valid, [None])
    if decoded.get("appClientId") != config.app_client_id:
        return _error(401, "invalid appClientId", signature_valid, [decoded])
    if signature_valid is False:
        return _error(401, "invalid signature", signature_valid, [decoded])
    if kind == "t":
        events: list[Any] = [decoded]
    else:
        events = decoded.get("events")  # type: ignore[assignment]
        if (
            not isinstance(events, list)
            or not events
            or not all(isinstance(e, dict) for e in events)
        ):
            return _error(
                400, "events must be a non-empty list of objects", signature_valid, [decoded]
            )
    for event in events:
        user = event.get("userProperties")
        uid = user.get("uid") if isinstance(user, dict) else None
        if event.get("event") == "identify" and uid in (None, ""):
            outcome = _error(400, "uid is required", signature_valid, events)
            outcome.batch_events = kind == "bt"
            return outcome
    return IngestOutcome(200, {"status": "ok"}, signature_valid, events, None, kind == "bt")


@dataclass
class SandboxState:
    """Thread-safe record of ingest requests and the current behaviour."""

    config: SandboxConfig
    calls: list[dict[str, Any]] = field(default_factory=list)
    behaviour: Behaviour | None = None
    _seq: int = 0
    _requests: int = 0
    _rng: random.Random = field(default_factory=random.Random)
    _accepted: Counter[str] = field(default_factory=Counter)
    _accepted_total: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take_injection(self) -> Injection | None:
        """What the behaviour does to one ingest request (consumes one of its `times`).

        The failure draw happens under the lock, so a seeded behaviour gives the same
        sequence of outcomes in request-arrival order.
        """
        with self._lock:
            current = self.behaviour
            if current is None:
                return None
            if current.times is not None:
                current.times -= 1
                if current.times <= 0:
                    self.behaviour = None
            failure = None
            chaos = bool(current.fail_rate and current.failures)
            if chaos and self._rng.random() < (current.fail_rate or 0):
                failure = self._rng.choice(current.failures)
            return Injection(
                current.delay_ms, current.status, current.retry_after, current.body, failure
            )

    def set_behaviour(self, behaviour: Behaviour | None) -> None:
        """Replace (or with None reset) the behaviour; a seed restarts the failure draws."""
        with self._lock:
            self.behaviour = behaviour
            self._rng = random.Random(behaviour.seed if behaviour else None)

    def behaviour_json(self) -> dict[str, Any] | None:
        """The current behaviour as JSON (None when normal)."""
        with self._lock:
            return self.behaviour.to_json() if self.behaviour else None

    def record(
        self,
        path: str,
        received_at: str,
        headers: dict[str, str],
        outcome: IngestOutcome,
        status: int | None,
        error: str | None,
    ) -> None:
        """Record one ingest request: one entry per call it carried (batch events apart).

        status None means no HTTP answer (connection reset); a call is accepted only when
        answered 2xx.
        """
        accepted = status is not None and 200 <= status < 300
        with self._lock:
            self._requests += 1
            for index, call in enumerate(outcome.calls):
                self._seq += 1
                self.calls.append(
                    {
                        "seq": self._seq,
                        "request_seq": self._requests,
                        "batch_index": index if outcome.batch_events else None,
                        "path": path,
                        "received_at": received_at,
                        "status": status,
                        "accepted": accepted,
                        "signature_valid": outcome.signature_valid,
                        "call": call,
                        "error": error,
                        "headers": headers,
                    }
                )
                if accepted:
                    self._accepted_total += 1
                    event_id = call.get("eventId") if isinstance(call, dict) else None
                    if event_id is not None:
                        self._accepted[str(event_id)] += 1

    def list_calls(self, status: int | None = None) -> list[dict[str, Any]]:
        """Recorded entries, optionally only those answered with status."""
        with self._lock:
            return [c for c in self.calls if status is None or c["status"] == status]

    def accepted_json(self) -> dict[str, Any]:
        """Accepted calls per eventId and in total (calls without an eventId: total only)."""
        with self._lock:
            return {"accepted": dict(self._accepted), "total": self._accepted_total}

    def clear(self) -> None:
        """Forget recorded entries (and the accepted counts)."""
        with self._lock:
            self.calls.clear()
            self._accepted.clear()
            self._accepted_total = 0


class _SandboxServer(LocalHTTPServer):
    state: SandboxState


class _SandboxHandler(QuietHandler):
    server: _SandboxServer

    # GET/DELETE: the control API; POST: ingest and control writes; PUT: answered uniformly
    methods = ("GET", "POST", "DELETE", "PUT")

    def dispatch(self) -> None:
        """Ingest calls and the control API."""
        url = urlsplit(self.path)
        raw = self.read_body()
        state = self.server.state
        if url.path.startswith(CONTROL_PREFIX):
            self._control(url.path[len(CONTROL_PREFIX) :].rstrip("/"), url.query, raw, state)
            return
        match = _INGEST_PATH.match(url.path)
        if match is None:
            self.send_json(404, {"error": "not found"})
        elif self.command != "POST":
            self.send_json(405, {"error": "method not allowed"}, [("Allow", "POST")])
        else:
            self._ingest(match.group("kind"), raw, state)

    def _ingest(self, kind: str, raw: bytes, state: SandboxState) -> None:
        received_at = datetime.now(UTC).isoformat()
        outcome = evaluate_ingest(kind, raw, state.config)
        injection = state.take_injection()
        status, body, headers, error = outcome.status, outcome.body, [], outcome.error
        if injection is not None:
            if injection.delay_ms:
                time.sleep(injection.delay_ms / 1000)
            failure = injection.failure
            if failure is not None and (failure.reset or failure.timeout_ms is not None):
                self._inject_no_answer(failure, outcome, received_at, state)
                return
            source = failure if failure is not None else injection
            if source.status is not None:
                status = source.status
                body = (
                    source.body
                    if source.body is not None
                    else {"error": f"sandbox injected status {status}"}
                )
                error = _injected(f"status {status}", error)
                if source.retry_after is not None:
                    headers.append(("Retry-After", str(source.retry_after)))
        state.record(self.path, received_at, dict(self.headers.items()), outcome, status, error)
        self.send_json(status, body, headers)

    def _inject_no_answer(
        self, failure: Failure, outcome: IngestOutcome, received_at: str, state: SandboxState
    ) -> None:
        """A timeout (wait, then 504) or a connection reset; the call is not accepted."""
        headers = dict(self.headers.items())
        if failure.reset:
            error = _injected("connection reset", outcome.error)
            state.record(self.path, received_at, headers, outcome, None, error)
            self._reset_connection()
            return
        timeout_ms = failure.timeout_ms or 0
        error = _injected(f"timeout after {timeout_ms:g} ms", outcome.error)
        state.record(self.path, received_at, headers, outcome, 504, error)
        time.sleep(timeout_ms / 1000)
        self.send_json(504, {"error": f"sandbox injected timeout after {timeout_ms:g} ms"})

    def _reset_connection(self) -> None:
        """Abort the TCP connection: SO_LINGER (on, 0 s) makes close() send an RST."""
        self.close_connection = True
        if not self.server.quiet:
            self.log_message('"%s" connection reset (injected)', self.requestline)
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # The socket only really closes once the file objects made from it are closed.
        # (wfile writes straight to the socket and is flushed again after this handler.)
        self.rfile.close()
        self.connection.close()

    def _control(self, name: str, query: str, raw: bytes, state: SandboxState) -> None:
        method = self.command
        if name == "health" and method == "GET":
            self.send_json(200, {"status": "ok"})
        elif name == "calls" and method == "GET":
            values = parse_qs(query).get("status")
            try:
                status = int(values[-1]) if values else None
            except ValueError:
                self.send_json(400, {"error": "status must be an integer"})
                return
            self.send_json(200, {"calls": state.list_calls(status)})
        elif name == "accepted" and method == "GET":
            self.send_json(200, state.accepted_json())
        elif name == "calls" and method == "DELETE":
            state.clear()
            self.send_json(200, {"status": "cleared"})
        elif name == "behaviour" and method == "GET":
            self.send_json(200, {"behaviour": state.behaviour_json()})
        elif name == "behaviour" and method == "DELETE":
            state.set_behaviour(None)
            self.send_json(200, {"behaviour": None})
        elif name == "behaviour" and method == "POST":
            try:
                behaviour = Behaviour.from_json(json.loads(raw.decode("utf-8") or "null"))
            except (UnicodeDecodeError, ValueError) as exc:
                self.send_json(400, {"error": str(exc)})
                return
            state.set_behaviour(behaviour)
            self.send_json(200, {"behaviour": behaviour.to_json()})
        elif name in ("health", "calls", "accepted", "behaviour"):
            self.send_json(405, {"error": "method not allowed"})
        else:
            self.send_json(404, {"error": "not found"})


class Sandbox(BackgroundServer):
    """An embeddable sandbox server."""

    def __init__(
        self,
        app_client_id: str,
        secret: str | None = None,
        signing: str = "md5",
        host: str = "127.0.0.1",
        port: int = 0,
        quiet: bool = True,
    ) -> None:
        """Bind host:port (0 = free port); call start() to serve."""
        self.state = SandboxState(SandboxConfig(app_client_id, secret or None, signing))
        server = _SandboxServer((host, port), _SandboxHandler, quiet)
        server.state = self.state
        self._thread = ServerThread(server, "richpanel-sandbox")


def start_sandbox(
    app_client_id: str,
    secret: str | None = None,
    signing: str = "md5",
    host: str = "127.0.0.1",
    port: int = 0,
    quiet: bool = True,
) -> Sandbox:
    """Start a sandbox in a background thread; stop it with .stop()."""
    return Sandbox(app_client_id, secret, signing, host, port, quiet).start()


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m local.sandbox", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4010)
    parser.add_argument("--app-client-id", required=True, help="accepted appClientId (API key)")
    parser.add_argument("--secret", default=None, help="API secret; when set calls must be signed")
    parser.add_argument("--signing", choices=SIGNING_CHOICES, default="md5")
    parser.add_argument("--quiet", action="store_true", help="no access log on stderr")
    args = parser.parse_args(argv)
    sandbox = start_sandbox(
        args.app_client_id, args.secret, args.signing, args.host, args.port, args.quiet
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    signing = args.signing if args.secret else "unsigned"
    print(
        f"Richpanel sandbox on {sandbox.url} (ingest: POST {sandbox.url}/v2/t and /v2/bt, "
        f"signing: {signing})\n  calls: {sandbox.url}/_sandbox/calls  "
        f"behaviour: {sandbox.url}/_sandbox/behaviour",
        file=sys.stderr,
        flush=True,
    )
    while not stop.wait(0.5):
        pass
    sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
