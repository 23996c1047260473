"""analytics.js (@segment/analytics-next) in headless Chromium, sending to the local stack.

A page on one 127.0.0.1 origin loads analytics.js from the npm package (tests/e2e/node, its
UMD build served by the test; inline settings, so nothing comes from Segment's CDN) and sends
to the API on another origin, which the stack allows (`AllowedOrigins`):

- standard delivery: identify, page, track, Order Completed (POST /v1/i, /v1/p, /v1/t);
- batching (`deliveryStrategy: batching`): the same four in one POST /v1/b;
- page unload: a buffered batch flushed with `keepalive` and a raw `navigator.sendBeacon`
  (no headers: the write key is in the body), both sent while the page navigates away;
- a second origin, outside AllowedOrigins: its preflight is refused, and neither its fetch
  nor its beacon is delivered.

The page carries a browser-scoped key (`browserWriteKeys`, added to the stack's inbound
secret): its identify keeps the name, not the email. Every allowed event must reach the
sandbox mapped, exactly once, with no retry, no console error and no failed request in the
page. tests/browser/drive.js drives the browser
(puppeteer-core on the system Chromium: Debian's `chromium` package, `.ci/run` installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from local import secrets as local_secrets
from local.template import LOCAL_REGION
from tests.integration.conftest import Stack, running_stack

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
PAGE_DIR = HERE / "page"
NODE_DIR = HERE.parent / "e2e" / "node"
BUNDLES_DIR = NODE_DIR / "node_modules" / "@segment" / "analytics-next" / "dist" / "umd"
BUNDLES_PATH = "/analytics-next/bundles/"  # where analytics.js loads its chunks from cdnURL
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def chromium() -> str | None:
    """The system Chromium: $CHROMIUM, else the first candidate on PATH."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class PageHandler(SimpleHTTPRequestHandler):
    """tests/browser/page/, and analytics-next's UMD build (with its chunks) under BUNDLES_PATH."""

    def translate_path(self, path: str) -> str:
        path = path.split("?", 1)[0].split("#", 1)[0]
        if path.startswith(BUNDLES_PATH):
            return str(BUNDLES_DIR / Path(path[len(BUNDLES_PATH) :]).name)
        return str(PAGE_DIR / (Path(path).name or "index.html"))

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the driver records every request the page makes."""


class PageServer:
    """A static server on a free 127.0.0.1 port, in a thread."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), PageHandler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> PageServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# The page carries a browser-scoped key (browserWriteKeys), as a real site should.
BROWSER_WRITE_KEY = "local-dev-browser-write-key"


def browser_write_key() -> str:
    return BROWSER_WRITE_KEY


def add_browser_key(stack: Stack) -> None:
    """Add BROWSER_WRITE_KEY to the stack's inbound secret (the stack reads secrets afresh:
    SecretsMaxAgeSeconds=0)."""
    client = stack.client("secretsmanager")
    names = [s["Name"] for s in client.list_secrets()["SecretList"]]
    (inbound,) = [name for name in names if name.endswith("/inbound")]
    value = {**local_secrets.LOCAL_INBOUND, "browserWriteKeys": [BROWSER_WRITE_KEY]}
    local_secrets.put_secret(stack.sqs_endpoint, LOCAL_REGION, inbound, value)


@pytest.fixture(scope="module")
def browser() -> str:
    """The Chromium to drive; skips the test without it (or without node)."""
    found = chromium()
    if found is None:
        pytest.skip("no chromium: apt-get install chromium (the real-browser test needs it)")
    if shutil.which("node") is None:
        pytest.skip("node/npm not installed: the real-browser test needs node")
    assert (NODE_DIR / "node_modules" / "puppeteer-core").is_dir(), (
        "run `make node-deps` (npm ci --prefix tests/e2e/node) first"
    )
    assert (BUNDLES_DIR / "index.js").is_file(), "run `make node-deps` first"
    return found


@pytest.fixture(scope="module")
def pages() -> Iterator[tuple[PageServer, PageServer]]:
    """The page's origin (allowed) and a foreign one (not in AllowedOrigins)."""
    with PageServer() as allowed, PageServer() as foreign:
        yield allowed, foreign


@pytest.fixture(scope="module", params=["rest", "http"])
def browser_stack(
    request: pytest.FixtureRequest,
    pages: tuple[PageServer, PageServer],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """A local stack that lets the page's origin send (AllowedOrigins), behind each API kind."""
    allowed, _ = pages
    with running_stack(
        tmp_path_factory.mktemp(f"browser-stack-{request.param}"),
        parameters={
            "AllowedOrigins": allowed.origin,
            "ApiKind": request.param,
            "SecretsMaxAgeSeconds": "0",
        },
    ) as started:
        add_browser_key(started)
        yield started


def drive(browser: str, stack: Stack, pages: tuple[PageServer, PageServer], run: str) -> Any:
    allowed, foreign = pages
    config = {
        "chromium": browser,
        "page": allowed.origin,
        "foreign": foreign.origin,
        "api": stack.api,
        "sandbox": stack.sandbox,
        "writeKey": browser_write_key(),
        "run": run,
        "userId": f"browser-user-{run}",
    }
    finished = subprocess.run(
        ["node", str(HERE / "drive.js")],
        env={**os.environ, "E2E_BROWSER": json.dumps(config)},
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout.strip().splitlines()[-1])


def page_problems(seen: dict[str, Any], api: str) -> list[Any]:
    """Console errors/warnings, page errors, failed requests and API answers >= 400."""
    return [
        *seen["console"],
        *seen["pageErrors"],
        *seen["failed"],
        *[r for r in seen["responses"] if r["url"].startswith(api) and r["status"] >= 400],
    ]


def by_event_id(stack: Stack) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for entry in stack.sandbox_calls():
        event_id = (entry.get("call") or {}).get("eventId")
        if event_id:
            found.setdefault(event_id, []).append(entry)
    return found


def test_analytics_js_in_chromium(
    browser: str, browser_stack: Stack, pages: tuple[PageServer, PageServer]
) -> None:
    stack = browser_stack
    stack.fresh()
    allowed, foreign = pages
    run = f"ajs-{uuid.uuid4().hex[:8]}"
    result = drive(browser, stack, pages, run)
    scenarios = result["scenarios"]
    print("versions:", json.dumps(result["versions"]))

    # The page origins talk to nothing but themselves and the API (no Segment CDN).
    for name, scenario in scenarios.items():
        for request in scenario["seen"]["requests"]:
            assert request["url"].startswith((allowed.origin, foreign.origin, stack.api)), (
                name,
                request["url"],
            )

    # No CORS error, console error, page error or failed request on the allowed origin.
    for name in ("standard", "batching", "unload"):
        seen = scenarios[name]["seen"]
        assert page_problems(seen, stack.api) == [], (name, page_problems(seen, stack.api))
        posts = [r for r in seen["requests"] if r["method"] == "POST"]
        retried = [r for r in posts if "x-retry-count" in r["headers"]]
        assert retried == [], (name, retried)

    # The ways of sending: the short paths, text/plain JSON, the key in body and header.
    def api_posts(name: str) -> list[dict[str, Any]]:
        return [
            r
            for r in scenarios[name]["seen"]["requests"]
            if r["method"] == "POST" and r["url"].startswith(stack.api)
        ]

    standard = api_posts("standard")
    assert sorted(r["url"].rsplit("/", 1)[1] for r in standard) == ["i", "p", "t", "t"]
    for request in standard:
        assert request["headers"]["content-type"].startswith("text/plain"), request
        assert request["headers"]["authorization"].startswith("Basic "), request
    assert [r["url"].rsplit("/", 1)[1] for r in api_posts("batching")] == ["b"]

    assert result["missing"] == [], f"never reached the sandbox: {result['missing']}"
    arrived = by_event_id(stack)
    for name in ("standard", "batching", "unload"):
        sent = scenarios[name]["returned"]
        for event in sent:
            entries = arrived.get(event["messageId"], [])
            assert len(entries) == 1, (name, event, entries)
            event["call"] = entries[0]["call"]
            assert entries[0]["status"] == 200, entries[0]
            assert entries[0]["signature_valid"] is True, entries[0]
        kinds = {event["kind"]: event for event in sent}
        if name == "unload":
            # The track was buffered for 60 s (batching timeout) and the driver waits 20 s at
            # most: it can only have left with the keepalive flush when the page unloaded.
            assert set(kinds) == {"identify", "track", "beacon"}, sent
            assert kinds["track"]["call"]["event"] == "Left The Page"
            assert kinds["beacon"]["call"]["event"] == "Beacon On Unload"
            continue
        assert len(sent) == 4 and set(kinds) == {"identify", "page", "track", "order"}, sent
        user = f"browser-user-{run}-{name}"
        assert kinds["identify"]["call"]["event"] == "identify"
        profile = kinds["identify"]["call"]["userProperties"]
        assert profile["uid"] == user
        # a browser key may set the name, not a customer's email (inbound/scopes.py)
        assert profile["name"] == "Browser User", profile
        assert "email" not in profile, profile
        assert kinds["page"]["call"]["event"] == "page_view"
        assert kinds["track"]["call"]["event"] == "Clicked Login Button"
        order = kinds["order"]["call"]
        assert order["event"] == "Order Completed"
        assert order["properties"]["orderId"] == f"{run}-{name}-o-1"
        assert order["properties"]["amount"] == 42.5
        assert order["userProperties"]["uid"] == user

    # A second origin: the preflighted fetch is blocked, and nothing of it is delivered.
    foreign_result = scenarios["foreign"]["returned"]
    assert foreign_result["fetchOutcome"].startswith("blocked"), foreign_result
    # its beacon (text/plain, never preflighted) reached the API, which refused its Origin
    beacons = [
        r
        for r in scenarios["foreign"]["seen"]["responses"]
        if r["method"] == "POST" and r["url"] == f"{stack.api}/v1/t" and r["status"] >= 400
    ]
    assert foreign_result["beaconQueued"] is True and beacons, scenarios["foreign"]["seen"]
    for kind in ("foreign-fetch", "foreign-beacon"):
        assert f"{run}-foreign-{kind}" not in arrived, kind


def test_preflight_from_another_origin_is_refused(
    browser_stack: Stack, pages: tuple[PageServer, PageServer]
) -> None:
    allowed, foreign = pages
    url = f"{browser_stack.api}/v1/t"
    preflight = {"Access-Control-Request-Method": "POST"}
    preflight["Access-Control-Request-Headers"] = "authorization,content-type"

    ok = requests.options(url, headers={**preflight, "Origin": allowed.origin}, timeout=10)
    assert 200 <= ok.status_code < 300, (ok.status_code, ok.text)
    assert ok.headers.get("Access-Control-Allow-Origin") == allowed.origin, ok.headers
    assert "authorization" in ok.headers.get("Access-Control-Allow-Headers", "").lower()

    refused = requests.options(url, headers={**preflight, "Origin": foreign.origin}, timeout=10)
    allow = refused.headers.get("Access-Control-Allow-Origin")
    assert allow not in (foreign.origin, "*"), (refused.status_code, refused.headers)

    # text/plain needs no preflight, so the function itself refuses a foreign Origin.
    message_id = f"foreign-direct-{uuid.uuid4().hex[:8]}"
    body = {"writeKey": browser_write_key(), "type": "track", "event": "Foreign Origin"}
    post = requests.post(
        url,
        data=json.dumps({**body, "userId": "foreign-user", "messageId": message_id}),
        headers={"Origin": foreign.origin, "Content-Type": "text/plain"},
        timeout=10,
    )
    assert post.status_code in (401, 403), (post.status_code, post.text)
    assert message_id not in by_event_id(browser_stack)
