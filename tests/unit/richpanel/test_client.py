from typing import Any

import requests

from richpanel_destination.richpanel.client import RichpanelClient
from richpanel_destination.richpanel.outcomes import Kind
from richpanel_destination.richpanel.wire import decode_body
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
    assert sent["timeout"] == (1.5, 2.5)
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
