"""RichpanelClient against `responses` (requests' own transport, mocked), not a fake session."""

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses

from richpanel_destination.richpanel.client import RichpanelClient
from richpanel_destination.richpanel.outcomes import Kind, Outcome
from richpanel_destination.richpanel.wire import decode_batch, decode_body
from richpanel_destination.secrets import RichpanelCredentials
from richpanel_destination.settings import Settings

SETTINGS = Settings(base_url="https://rp.example/v2", connect_timeout=1.5, read_timeout=2.5)
TRACK_URL = "https://rp.example/v2/t"
BATCH_URL = "https://rp.example/v2/bt"


def creds() -> RichpanelCredentials:
    return RichpanelCredentials("key-1")


def make(settings: Settings = SETTINGS) -> RichpanelClient:
    """A client with its default session (requests, which `responses` answers)."""
    return RichpanelClient(settings)


def send(client: RichpanelClient, call: dict[str, Any], within: float | None = None) -> Outcome:
    return client.send(call, creds(), within=within)


def send_batch(client: RichpanelClient, calls: list[dict[str, Any]]) -> Outcome:
    return client.send_batch(calls, creds())


@pytest.fixture
def richpanel() -> Iterator[responses.RequestsMock]:
    """Every request through requests is answered here; an unexpected URL fails the test."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def sent(mock: responses.RequestsMock) -> list[dict[str, Any]]:
    """What the client put on the wire: url, body bytes, headers and the timeout it passed."""
    out = []
    for call in mock.calls:
        request: Any = call.request
        body = request.body
        out.append(
            {
                "url": request.url,
                "data": body.encode() if isinstance(body, str) else body,
                "headers": dict(request.headers),
                "timeout": request.req_kwargs["timeout"],
            }
        )
    return out


def test_posts_exact_request_with_timeouts(richpanel: responses.RequestsMock) -> None:
    richpanel.post(TRACK_URL, status=200)
    outcome = send(make(), {"event": "identify", "userProperties": {}})
    assert outcome.kind is Kind.DELIVERED
    (one,) = sent(richpanel)
    assert one["url"] == "https://rp.example/v2/t"
    assert repr(one["timeout"]) == "Timeout(connect=1.5, read=2.5, total=4.0)"
    decoded = decode_body(one["data"])
    assert decoded["appClientId"] == "key-1"
    assert decoded["event"] == "identify"
    assert isinstance(decoded["time"]["sentAt"], int)
    assert one["headers"]["Content-Type"] == "application/json"


def test_timeout_is_retryable_not_raised(richpanel: responses.RequestsMock) -> None:
    richpanel.post(TRACK_URL, body=requests.ReadTimeout("slow"))
    outcome = send(make(), {"event": "x"})
    assert outcome.kind is Kind.RETRYABLE


def test_default_session_is_pooled_without_urllib3_retries() -> None:
    client = make()
    adapter = client._session.get_adapter("https://rp.example/v2/t")
    assert adapter.max_retries.total == 0
    assert adapter._pool_maxsize == 16


def test_send_batch_posts_one_exact_bt_request(richpanel: responses.RequestsMock) -> None:
    richpanel.post(BATCH_URL, status=200)
    settings = Settings(base_url="https://rp.example/v2", signing="sha256", read_timeout=2.5)
    calls: list[dict[str, Any]] = [
        {"event": "identify", "userProperties": {"uid": "u"}},
        {"event": "order"},
    ]
    outcome = make(settings).send_batch(calls, RichpanelCredentials("key-1", "s3"))
    assert (outcome.kind, outcome.status) == (Kind.DELIVERED, 200)
    assert outcome.latency_ms is not None
    (one,) = sent(richpanel)
    assert one["url"] == "https://rp.example/v2/bt"
    assert repr(one["timeout"]) == "Timeout(connect=2.0, read=2.5, total=4.5)"
    assert one["headers"]["Content-Type"] == "application/json"
    outer = json.loads(one["data"])
    assert list(outer) == ["hs", "s", "event_type"]
    assert outer["event_type"] == "send_batch"
    assert outer["s"] == hashlib.sha256((outer["hs"] + "s3").encode()).hexdigest()
    inner = decode_batch(one["data"])
    assert (inner["appClientId"], inner["event"]) == ("key-1", "send_batch")
    sent_at = inner["events"][0]["time"]["sentAt"]
    assert isinstance(sent_at, int)
    assert inner["events"] == [
        {
            "event": "identify",
            "userProperties": {"uid": "u"},
            "appClientId": "key-1",
            "time": {"sentAt": sent_at},
        },
        {"event": "order", "appClientId": "key-1", "time": {"sentAt": sent_at}},
    ]
    assert calls[1] == {"event": "order"}  # not mutated


def test_send_batch_is_classified_like_send(richpanel: responses.RequestsMock) -> None:
    richpanel.post(BATCH_URL, status=503, headers={"Retry-After": "7"})
    outcome = send_batch(make(), [{"event": "x"}])
    assert (outcome.kind, outcome.status, outcome.retry_after) == (Kind.RETRYABLE, 503, 7.0)
    richpanel.replace(responses.POST, BATCH_URL, status=400)
    assert send_batch(make(), [{}]).kind is Kind.PERMANENT
    richpanel.replace(responses.POST, BATCH_URL, body=requests.ConnectionError("reset"))
    outcome = send_batch(make(), [{}])
    assert (outcome.kind, outcome.status) == (Kind.RETRYABLE, None)


def test_a_send_is_given_no_more_than_the_time_left(richpanel: responses.RequestsMock) -> None:
    richpanel.post(TRACK_URL, status=200)
    send(make(), {"event": "x"}, within=0.8)
    (one,) = sent(richpanel)
    assert repr(one["timeout"]) == "Timeout(connect=0.8, read=0.8, total=0.8)"


def test_the_time_left_ends_a_slow_answer_on_a_real_socket() -> None:
    import http.server
    import threading
    import time

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(2.0)  # answers after the caller's time is up
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        settings = Settings(base_url=url, connect_timeout=2.0, read_timeout=3.0)
        started = time.monotonic()
        outcome = send(make(settings), {"event": "x"}, within=0.5)
        took = time.monotonic() - started
    finally:
        server.shutdown()
    assert outcome.kind is Kind.RETRYABLE
    assert "timed out" in outcome.reason.lower()
    assert took < 1.5  # the 3 s read timeout alone would have waited for the answer
