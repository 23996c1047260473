"""X-Replay: resend through the ingest ``lambda_handler`` (inbound/replay.py): a server key
may ask, a browser key may not, an unknown value is refused rather than ignored."""

from __future__ import annotations

from typing import Any

from local.secrets import LOCAL_WRITE_KEY
from tests.handlers import test_browser_keys_handler as browser
from tests.handlers.test_browser_keys_handler import BROWSER_KEY, basic, identify, send

ingest_handler = browser.handler  # the fixture: the template's environment, a browser key


def test_a_server_key_may_ask_to_resend(ingest_handler: Any) -> None:
    headers = basic(LOCAL_WRITE_KEY) | {"X-Replay": "resend"}
    status, answer, richpanel = send(ingest_handler, "/v1/batch", {"batch": [identify()]}, headers)
    assert status == 200, answer
    assert answer["results"][0]["outcome"] == "delivered"
    assert len(richpanel.delivered_calls()) == 1


def test_a_browser_key_may_not(ingest_handler: Any) -> None:
    headers = basic(BROWSER_KEY) | {"X-Replay": "resend"}
    status, answer, richpanel = send(ingest_handler, "/v1/batch", {"batch": [identify()]}, headers)
    assert status == 403
    assert "server write key" in answer["message"]
    assert richpanel.delivered_calls() == []


def test_an_unknown_value_is_refused_not_ignored(ingest_handler: Any) -> None:
    headers = basic(LOCAL_WRITE_KEY) | {"X-Replay": "force"}
    status, answer, richpanel = send(ingest_handler, "/v1/batch", {"batch": [identify()]}, headers)
    assert status == 400
    assert "X-Replay" in answer["message"]
    assert richpanel.delivered_calls() == []
