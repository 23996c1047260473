"""CORS over real HTTP: the local stack with AllowedOrigins set, as the REST and the HTTP API.

`python -m local.run --parameter AllowedOrigins=... [--parameter ApiKind=http]`: the OPTIONS
routes and the REST API's gateway responses come from template.yaml, nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from tests.integration.conftest import Stack, running_stack
from tests.integration.test_delivery_paths import calls_for, track

SHOP = "https://shop.example.com"
LOCAL_PAGE = "http://localhost:8900"
EVIL = "https://evil.example.net"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type,x-retry-count",
}


@pytest.fixture(scope="module", params=["rest", "http"])
def cors_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    parameters = {"ApiKind": request.param, "AllowedOrigins": f"{SHOP},{LOCAL_PAGE}"}
    with running_stack(
        tmp_path_factory.mktemp(f"cors-{request.param}"), parameters=parameters
    ) as started:
        yield started


@pytest.fixture(autouse=True)
def _reset_stack(cors_stack: Stack) -> None:
    cors_stack.fresh()


def api_kind(stack: Stack) -> str:
    info = json.loads((stack.log_path.parent / "ready.json").read_text(encoding="utf-8"))
    return str(info["api_kind"])


def options(stack: Stack, path: str, origin: str) -> requests.Response:
    # no credentials: the session's Authorization is dropped, as a browser's preflight has none
    return requests.options(
        f"{stack.api}{path}", headers={**PREFLIGHT, "Origin": origin}, timeout=10
    )


@pytest.mark.parametrize("origin", [SHOP, LOCAL_PAGE])
def test_a_preflight_from_a_listed_origin_is_answered(cors_stack: Stack, origin: str) -> None:
    response = options(cors_stack, "/v1/t", origin)
    assert response.status_code == 204, response.text
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert response.headers["Access-Control-Allow-Methods"] == "OPTIONS, POST"
    allowed = response.headers["Access-Control-Allow-Headers"].split(",")
    assert sorted(allowed) == ["authorization", "content-type", "x-retry-count"]
    assert response.headers["Access-Control-Max-Age"] == "7200"


def test_a_preflight_from_another_origin_is_refused(cors_stack: Stack) -> None:
    response = options(cors_stack, "/v1/track", EVIL)
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers


def test_a_post_from_a_listed_origin_is_delivered_and_readable(cors_stack: Stack) -> None:
    event = track()
    response = cors_stack.post("/v1/track", event, headers={"Origin": SHOP}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Access-Control-Allow-Origin"] == SHOP
    assert response.headers["Vary"] == "Origin"
    assert len(calls_for(cors_stack, event["messageId"], status=200)) == 1


def test_a_post_from_another_origin_is_refused_and_not_delivered(cors_stack: Stack) -> None:
    event = track()
    response = cors_stack.post("/v1/track", event, headers={"Origin": EVIL}, timeout=10)
    assert response.status_code == 403
    assert "not allowed" in response.json()["message"]
    assert "Access-Control-Allow-Origin" not in response.headers
    assert calls_for(cors_stack, event["messageId"]) == []


def test_an_error_answer_of_the_function_carries_the_header(cors_stack: Stack) -> None:
    response = requests.post(
        f"{cors_stack.api}/v1/track",
        data=b'{"type":"track"}',
        headers={"Origin": SHOP, "Content-Type": "text/plain"},  # no write key: 401
        timeout=10,
    )
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == SHOP


def test_the_apis_own_answer_to_an_unknown_path(cors_stack: Stack) -> None:
    """REST: 403 Missing Authentication Token through DEFAULT_4XX, with the header. HTTP API:
    404 Not Found, without (an HTTP API has no gateway responses; docs/security.md)."""
    response = requests.post(
        f"{cors_stack.api}/v1/nope", json={}, headers={"Origin": SHOP}, timeout=10
    )
    if api_kind(cors_stack) == "rest":
        assert response.status_code == 403
        assert response.json() == {"message": "Missing Authentication Token"}
        assert response.headers["Access-Control-Allow-Origin"] == SHOP
        assert response.headers["Vary"] == "Origin"
    else:
        assert response.status_code == 404
        assert "Access-Control-Allow-Origin" not in response.headers
