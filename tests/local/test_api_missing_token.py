"""Unmatched requests get what API Gateway (REST) answers: 403 Missing Authentication Token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.api import ApiTarget, LocalApi

MISSING = {"message": "Missing Authentication Token"}


@pytest.fixture
def server() -> Iterator[LocalApi]:
    """A LocalApi with one POST route."""

    def ok(event: dict[str, Any]) -> dict[str, Any]:
        return {"statusCode": 200, "body": json.dumps({"ok": True})}

    api = LocalApi([ApiTarget("POST", "/v1/track", ok)], stage="live", port=0).start()
    yield api
    api.stop()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/tracks"),  # a path the template does not declare
        ("POST", "/"),
        ("POST", "/live/v1/track"),  # the stage prefix: local URLs have none
        ("GET", "/v1/track"),  # a declared path with a method it does not declare
        ("PUT", "/v1/track"),
    ],
)
def test_unmatched_request_is_403_missing_authentication_token(
    server: LocalApi, method: str, path: str
) -> None:
    response = requests.request(method, f"{server.url}{path}", json={}, timeout=5)
    assert response.status_code == 403
    assert response.json() == MISSING
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


def test_declared_route_still_answers(server: LocalApi) -> None:
    response = requests.post(f"{server.url}/v1/track", json={}, timeout=5)
    assert (response.status_code, response.json()) == (200, {"ok": True})
    assert "x-amzn-ErrorType" not in response.headers
