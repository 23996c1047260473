import hashlib
import json
from typing import Any

import requests

from richpanel_destination.richpanel.client import RichpanelClient
from richpanel_destination.richpanel.outcomes import Kind
from richpanel_destination.richpanel.wire import decode_batch, decode_body
from richpanel_destination.secrets import RichpanelCredentials, SecretError
from richpanel_destination.settings import Settings

SETTINGS = Settings(base_url="https://rp.example/v2", connect_timeout=1.5, read_timeout=2.5)


def creds() -> RichpanelCredentials:
    return RichpanelCredentials("key-1")


class FakeResponse:
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.headers = headers or {}
        self.text = ""


class FakeSession(requests.Session):
    def __init__(self, answer: FakeResponse | Exception) -> None:
        super().__init__()
        self.answer = answer
        self.sent: list[dict[str, Any]] = []

    def post(self, url: str, **kwargs: Any) -> Any:  # type: ignore[override]
        self.sent.append({"url": url, **kwargs})
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_posts_exact_request_with_timeouts() -> None:
    session = FakeSession(FakeResponse(200))
    outcome = RichpanelClient(SETTINGS, creds, session).send(
        {"event": "identify", "userProperties": {}}
    )
    assert outcome.kind is Kind.DELIVERED
    (sent,) = session.sent
    assert sent["url"] == "https://rp.example/v2/t"
    assert repr(sent["timeout"]) == "Timeout(connect=1.5, read=2.5, total=4.0)"
    decoded = decode_body(sent["data"])
    assert decoded["appClientId"] == "key-1"
    assert decoded["event"] == "identify"
    assert isinstance(decoded["time"]["sentAt"], int)
    assert session.headers["Content-Type"] == "application/json"


def test_timeout_is_retryable_not_raised() -> None:
    session = FakeSession(requests.ReadTimeout("slow"))
    outcome = RichpanelClient(SETTINGS, creds, session).send({"event": "x"})
    assert outcome.kind is Kind.RETRYABLE


def test_default_session_is_pooled_without_urllib3_retries() -> None:
    client = RichpanelClient(SETTINGS, creds)
    adapter = client._session.get_adapter("https://rp.example/v2/t")
    assert adapter.max_retries.total == 0
    assert adapter._pool_maxsize == 16  # type: ignore[attr-defined]


def test_unreadable_credentials_are_retryable_and_nothing_is_sent() -> None:
    def broken() -> RichpanelCredentials:
        raise SecretError("cannot read secret arn:x: ResourceNotFoundException")

    session = FakeSession(FakeResponse(200))
    outcome = RichpanelClient(SETTINGS, broken, session).send({"event": "x"})
    assert outcome.kind is Kind.RETRYABLE
    assert outcome.reason.startswith("Richpanel credentials unavailable: cannot read secret")
    assert session.sent == []


def test_send_batch_posts_one_exact_bt_request() -> None:
    session = FakeSession(FakeResponse(200))
    settings = Settings(base_url="https://rp.example/v2", signing="sha256", read_timeout=2.5)
    client = RichpanelClient(settings, lambda: RichpanelCredentials("key-1", "s3"), session)
    calls: list[dict[str, Any]] = [
        {"event": "identify", "userProperties": {"uid": "u"}},
        {"event": "order"},
    ]
    outcome = client.send_batch(calls)
    assert (outcome.kind, outcome.status) == (Kind.DELIVERED, 200)
    assert outcome.latency_ms is not None
    (sent,) = session.sent
    assert sent["url"] == "https://rp.example/v2/bt"
    assert repr(sent["timeout"]) == "Timeout(connect=2.0, read=2.5, total=4.5)"
    assert session.headers["Content-Type"] == "application/json"
    outer = json.loads(sent["data"])
    assert list(outer) == ["hs", "s", "event_type"]
    assert outer["event_type"] == "send_batch"
    assert outer["s"] == hashlib.sha256((outer["hs"] + "s3").encode()).hexdigest()
    inner = decode_batch(sent["data"])
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


def test_send_batch_is_classified_like_send() -> None:
    session = FakeSession(FakeResponse(503, {"Retry-After": "7"}))
    outcome = RichpanelClient(SETTINGS, creds, session).send_batch([{"event": "x"}])
    assert (outcome.kind, outcome.status, outcome.retry_after) == (Kind.RETRYABLE, 503, 7.0)
    session = FakeSession(FakeResponse(400))
    assert RichpanelClient(SETTINGS, creds, session).send_batch([{}]).kind is Kind.PERMANENT
    session = FakeSession(requests.ConnectionError("reset"))
    outcome = RichpanelClient(SETTINGS, creds, session).send_batch([{}])
    assert (outcome.kind, outcome.status) == (Kind.RETRYABLE, None)


def test_send_batch_with_unreadable_credentials_is_retryable_and_sends_nothing() -> None:
    def broken() -> RichpanelCredentials:
        raise SecretError("cannot read secret arn:x: ResourceNotFoundException")

    session = FakeSession(FakeResponse(200))
    outcome = RichpanelClient(SETTINGS, broken, session).send_batch([{"event": "x"}])
    assert outcome.kind is Kind.RETRYABLE
    assert outcome.reason.startswith("Richpanel credentials unavailable: cannot read secret")
    assert session.sent == []


def test_a_send_is_given_no_more_than_the_time_left() -> None:
    session = FakeSession(FakeResponse(200))
    RichpanelClient(SETTINGS, creds, session).send({"event": "x"}, within=0.8)
    (sent,) = session.sent
    assert repr(sent["timeout"]) == "Timeout(connect=0.8, read=0.8, total=0.8)"


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
        outcome = RichpanelClient(settings, creds).send({"event": "x"}, within=0.5)
        took = time.monotonic() - started
    finally:
        server.shutdown()
    assert outcome.kind is Kind.RETRYABLE
    assert "timed out" in outcome.reason.lower()
    assert took < 1.5  # the 3 s read timeout alone would have waited for the answer
