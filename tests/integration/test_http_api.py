"""The whole local stack with ApiKind=http (`python -m local.run --parameter ApiKind=http`).

The local API then emulates the HTTP API: the HttpApi events' routes, payload format 2.0
events (lower-case headers, base64 bodies unless text), 404 Not Found where no route matches.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.integration.conftest import Stack, running_stack
from tests.integration.test_delivery_paths import calls_for, track


@pytest.fixture(scope="module")
def http_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(
        tmp_path_factory.mktemp("http-api-stack"), parameters={"ApiKind": "http"}
    ) as started:
        yield started


@pytest.fixture(autouse=True)
def _reset_stack(http_stack: Stack) -> None:
    """This module's stack, not the session's (REST) one, starts each test clean."""
    http_stack.fresh()


def test_the_ready_file_names_the_http_api(http_stack: Stack) -> None:
    info = json.loads((http_stack.log_path.parent / "ready.json").read_text(encoding="utf-8"))
    assert info["api_kind"] == "http"
    assert info["stage"] == "live"


def test_track_arrives_through_the_http_api(http_stack: Stack) -> None:
    event = track()
    response = http_stack.post("/v1/track", event, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["summary"]["delivered"] == 1
    assert "apigw-requestid" in response.headers
    (call,) = calls_for(http_stack, event["messageId"], status=200)
    assert call["call"]["event"] == "Clicked Login Button"


def test_gzip_batch_arrives_through_the_http_api(http_stack: Stack) -> None:
    first, second = track(type="track"), track(type="track", event="Signed Up")
    body = gzip.compress(json.dumps({"batch": [first, second]}).encode("utf-8"))
    response = http_stack.http.post(
        f"{http_stack.api}/v1/batch",
        data=body,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert [r["outcome"] for r in response.json()["results"]] == ["delivered", "delivered"]
    assert calls_for(http_stack, second["messageId"])[0]["call"]["event"] == "Signed Up"


@pytest.mark.parametrize(("method", "path"), [("POST", "/v1/tracks"), ("GET", "/v1/track")])
def test_an_unrouted_request_is_404_not_found(http_stack: Stack, method: str, path: str) -> None:
    event: dict[str, Any] = track()
    response = requests.request(method, f"{http_stack.api}{path}", json=event, timeout=10)
    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}
    assert calls_for(http_stack, event["messageId"]) == []


def test_the_write_key_is_still_checked(http_stack: Stack) -> None:
    response = requests.post(f"{http_stack.api}/v1/track", json=track(), timeout=10)
    assert response.status_code == 401
