"""The local HTTP API (kind="http"): payload format 2.0 events and what API Gateway v2 answers.

A request no route key matches is 404 {"message":"Not Found"} (a REST API answers 403 Missing
Authentication Token); a function error is 500 Internal Server Error (REST: 502).
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.api import ApiTarget, LocalApi, build_http_event, http_body_is_text
from local.template import Template, TemplateError


@pytest.fixture
def api() -> Iterator[tuple[LocalApi, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    def echo(event: dict[str, Any]) -> dict[str, Any]:
        seen.append(event)
        return {
            "statusCode": 201,
            "headers": {"X-One": "1"},
            "cookies": ["a=1; Path=/"],
            "body": json.dumps({"ok": True}),
            "isBase64Encoded": False,
        }

    def boom(event: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("handler failure for the test")

    targets = [
        ApiTarget("POST", "/v1/track", echo),
        ApiTarget("POST", "/v1/boom", boom),
        ApiTarget("POST", "/v1/bare", lambda event: {"inferred": True}),
    ]
    server = LocalApi(targets, stage="live", port=0, kind="http").start()
    yield server, seen
    server.stop()


def test_http_api_builds_a_payload_2_event(api: tuple[LocalApi, list[dict[str, Any]]]) -> None:
    server, seen = api
    response = requests.post(
        f"{server.url}/v1/track?a=1&a=2",
        json={"x": "é"},
        headers={"X-Test": "t", "Cookie": "c1=v1; c2=v2"},
        timeout=5,
    )
    assert response.status_code == 201
    assert response.json() == {"ok": True}
    assert response.headers["X-One"] == "1"
    assert response.headers["Set-Cookie"] == "a=1; Path=/"
    assert "apigw-requestid" in response.headers
    event = seen[-1]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /v1/track"
    assert event["rawPath"] == "/live/v1/track"  # a named stage is in rawPath
    assert event["rawQueryString"] == "a=1&a=2"
    assert event["queryStringParameters"] == {"a": "1,2"}
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert event["requestContext"]["stage"] == "live"
    assert event["headers"]["x-test"] == "t"
    assert all(name == name.lower() for name in event["headers"])
    assert "cookie" not in event["headers"]
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["isBase64Encoded"] is False
    assert json.loads(event["body"]) == {"x": "é"}
    assert "multiValueHeaders" not in event and "httpMethod" not in event


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/tracks"), ("POST", "/"), ("POST", "/live/v1/track"), ("GET", "/v1/track")],
)
def test_unmatched_request_is_404_not_found(
    api: tuple[LocalApi, list[dict[str, Any]]], method: str, path: str
) -> None:
    server, _ = api
    response = requests.request(method, f"{server.url}{path}", json={}, timeout=5)
    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}
    assert "x-amzn-ErrorType" not in response.headers


def test_function_error_is_500_internal_server_error(
    api: tuple[LocalApi, list[dict[str, Any]]],
) -> None:
    server, _ = api
    response = requests.post(f"{server.url}/v1/boom", json={}, timeout=5)
    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}


def test_a_result_without_status_code_is_a_json_200(
    api: tuple[LocalApi, list[dict[str, Any]]],
) -> None:
    server, _ = api
    response = requests.post(f"{server.url}/v1/bare", json={}, timeout=5)
    assert (response.status_code, response.json()) == (200, {"inferred": True})


def test_gzip_body_arrives_base64(api: tuple[LocalApi, list[dict[str, Any]]]) -> None:
    server, seen = api
    raw = gzip.compress(b'{"event":"x"}')
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    requests.post(f"{server.url}/v1/track", data=raw, headers=headers, timeout=5)
    event = seen[-1]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw
    assert event["headers"]["content-encoding"] == "gzip"


@pytest.mark.parametrize(
    ("content_type", "text"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("text/plain", True),
        ("application/xml", True),
        ("application/octet-stream", False),
        ("application/x-www-form-urlencoded", False),
        ("", False),  # no Content-Type: base64
    ],
)
def test_which_bodies_an_http_api_passes_as_text(content_type: str, text: bool) -> None:
    headers = {"content-type": content_type} if content_type else {}
    assert http_body_is_text(headers, b'{"a":1}') is text


def test_default_stage_has_no_prefix_in_raw_path() -> None:
    event = build_http_event(
        method="POST",
        raw_path="/v1/track",
        route_path="/v1/track",
        path_parameters={},
        headers=[("Content-Type", "application/json")],
        body=b"",
        stage="$default",
        source_ip="203.0.113.7",
    )
    assert event["rawPath"] == "/v1/track"
    assert "body" not in event and event["isBase64Encoded"] is False


def test_template_routes_follow_api_kind() -> None:
    """The routes and stage come from the events of the API ApiKind enables."""
    template = Template.load()
    rest, http = template.context({}), template.context({"ApiKind": "http"})
    assert template.active_api(rest) == ("rest", "IngestApi")
    assert template.active_api(http) == ("http", "IngestHttpApi")
    assert template.api_routes(rest) == template.api_routes(http)  # the same paths on either
    assert template.api_stage_name(http) == "live"


def test_the_local_stack_serves_one_api() -> None:
    """ApiKind=both (a deploy-time migration step) has two APIs answering: locally refused."""
    template = Template.load()
    with pytest.raises(TemplateError, match="several APIs"):
        template.active_api(template.context({"ApiKind": "both"}))
