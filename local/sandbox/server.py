"""The sandbox HTTP server (ingest, REST read-back, control API), embeddable form and CLI."""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
import socket
import struct
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local._http import BackgroundServer, LocalHTTPServer, QuietHandler, ServerThread
from local.sandbox.contract import SIGNING_CHOICES, IngestOutcome, SandboxConfig, evaluate_ingest
from local.sandbox.customers import read_back
from local.sandbox.faults import Behaviour, Failure, injected
from local.sandbox.state import SandboxState

CONTROL_PREFIX = "/_sandbox/"
_INGEST_PATH = re.compile(r"^/(?P<version>[^/_][^/]*)/(?P<kind>t|bt)/?$")


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
        rest_path = state.config.rest_path
        if match is None and url.path.startswith(rest_path + "/"):
            rest, key = url.path[len(rest_path) :], state.config.rest_key
            status, answer = read_back(state.customers, key, self.command, rest, dict(self.headers))
            self.send_json(status, answer)
        elif match is None:
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
                what = f"rate limit {status}" if injection.rate_limited else f"status {status}"
                error = injected(what, error)
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
            error = injected("connection reset", outcome.error)
            state.record(self.path, received_at, headers, outcome, None, error)
            self._reset_connection()
            return
        timeout_ms = failure.timeout_ms or 0
        error = injected(f"timeout after {timeout_ms:g} ms", outcome.error)
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
        *,
        strict: bool = False,
        rest_key: str = "local-dev-rest-key",
        visible_after_ms: int = 0,
        rest_path: str = "/v1/customers",
    ) -> None:
        """Bind host:port (0 = free port); call start() to serve.

        strict: 401 for an unknown appClientId or bad signature (default: 200, dropped).
        """
        config = SandboxConfig(
            app_client_id, secret or None, signing, strict, rest_key, visible_after_ms, rest_path
        )
        self.state = SandboxState(config)
        server = _SandboxServer((host, port), _SandboxHandler, quiet)
        server.state = self.state
        self._thread = ServerThread(server, "richpanel-sandbox")


def start_sandbox(app_client_id: str, *args: Any, **kwargs: Any) -> Sandbox:
    """Start a sandbox (Sandbox's arguments) in a background thread; stop it with .stop()."""
    return Sandbox(app_client_id, *args, **kwargs).start()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The CLI's options."""
    parser = argparse.ArgumentParser(
        prog="python -m local.sandbox",
        description="Richpanel event-ingest sandbox: a local stand-in for {base}/t and {base}/bt.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4010)
    parser.add_argument("--app-client-id", required=True, help="accepted appClientId (API key)")
    parser.add_argument("--secret", default=None, help="API secret; when set calls must be signed")
    parser.add_argument("--signing", choices=SIGNING_CHOICES, default="md5")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="401 for an unknown appClientId or bad signature (Richpanel: 200, dropped)",
    )
    parser.add_argument("--rest-key", default="local-dev-rest-key", help="x-richpanel-key")
    parser.add_argument(
        "--visible-after-ms",
        type=int,
        default=0,
        help="delay before an accepted call shows in the REST read-back",
    )
    parser.add_argument("--rest-path", default="/v1/customers", help="REST read-back prefix")
    parser.add_argument("--quiet", action="store_true", help="no access log on stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox until SIGINT/SIGTERM."""
    args = parse_args(argv)
    sandbox = start_sandbox(
        args.app_client_id,
        args.secret,
        args.signing,
        args.host,
        args.port,
        args.quiet,
        strict=args.strict,
        rest_key=args.rest_key,
        visible_after_ms=args.visible_after_ms,
        rest_path=args.rest_path,
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    signing = args.signing if args.secret else "unsigned"
    print(
        f"Richpanel sandbox on {sandbox.url} (ingest: POST {sandbox.url}/v2/t and /v2/bt, "
        f"signing: {signing}{', strict' if args.strict else ''})\n"
        f"  calls: {sandbox.url}/_sandbox/calls  behaviour: {sandbox.url}/_sandbox/behaviour\n"
        f"  read-back: GET {sandbox.url}{sandbox.state.config.rest_path}/{{email|phone|uid}}/V "
        f"-H 'x-richpanel-key: {args.rest_key}'",
        file=sys.stderr,
        flush=True,
    )
    while not stop.wait(0.5):
        pass
    sandbox.stop()
    return 0
