"""The REST API's own answers carry what the template's GatewayResponses declare (CORS).

403 Missing Authentication Token (DEFAULT_4XX) and 502 when the function fails (DEFAULT_5XX);
header values are static ('value') or mapped from a request header, as on API Gateway.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.api import ApiTarget, LocalApi, gateway_response_headers
from local.template import Template, TemplateError

SHOP = "https://shop.example.com"
ECHO = {"Access-Control-Allow-Origin": "method.request.header.Origin", "Vary": "'Origin'"}


@pytest.fixture
def server() -> Iterator[LocalApi]:
    def boom(event: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("the function failed")

    responses = {"DEFAULT_4XX": ECHO, "DEFAULT_5XX": ECHO}
    api = LocalApi(
        [ApiTarget("POST", "/v1/boom", boom)], stage="live", port=0, gateway_responses=responses
    ).start()
    yield api
    api.stop()


def test_the_missing_token_403_echoes_the_origin(server: LocalApi) -> None:
    response = requests.post(f"{server.url}/v1/nope", json={}, headers={"Origin": SHOP}, timeout=5)
    assert response.status_code == 403
    assert response.headers["Access-Control-Allow-Origin"] == SHOP
    assert response.headers["Vary"] == "Origin"


def test_without_an_origin_the_mapped_header_is_left_out(server: LocalApi) -> None:
    response = requests.post(f"{server.url}/v1/nope", json={}, timeout=5)
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers


def test_a_failed_function_502_carries_the_5xx_headers(server: LocalApi) -> None:
    response = requests.post(f"{server.url}/v1/boom", json={}, headers={"Origin": SHOP}, timeout=5)
    assert response.status_code == 502
    assert response.headers["Access-Control-Allow-Origin"] == SHOP


def test_a_response_type_of_its_own_wins_over_the_default() -> None:
    responses = {"DEFAULT_4XX": ECHO, "MISSING_AUTHENTICATION_TOKEN": {"X-Static": "'yes'"}}
    headers = gateway_response_headers(responses, "MISSING_AUTHENTICATION_TOKEN", 403, {})
    assert headers == [("X-Static", "yes")]
    with pytest.raises(ValueError, match="not emulated"):
        gateway_response_headers({"DEFAULT_4XX": {"X": "context.requestId"}}, "X", 403, {})


@pytest.mark.parametrize(
    ("parameters", "origin"),
    [
        ({}, None),
        ({"AllowedOrigins": f"{SHOP},https://www.example.com"}, "method.request.header.Origin"),
        ({"AllowedOrigins": "*"}, "'*'"),
    ],
    ids=["default-none", "listed", "any"],
)
def test_the_local_stack_reads_them_from_template_yaml(
    parameters: dict[str, str], origin: str | None
) -> None:
    template = Template.load()
    responses = template.gateway_responses(template.context(parameters))
    assert set(responses) == {"DEFAULT_4XX", "DEFAULT_5XX"}
    for headers in responses.values():
        assert headers.get("Access-Control-Allow-Origin") == origin


def test_the_http_api_has_no_gateway_responses_and_no_native_cors() -> None:
    template = Template.load()
    context = template.context({"ApiKind": "http", "AllowedOrigins": "*"})
    assert template.gateway_responses(context) == {}
    data = dict(template.data)
    api = dict(data["Resources"]["IngestHttpApi"])
    api["Properties"] = {**api["Properties"], "CorsConfiguration": {"AllowOrigins": ["*"]}}
    data["Resources"] = {**data["Resources"], "IngestHttpApi": api}
    with pytest.raises(TemplateError, match="not emulated"):
        Template(data, template.base_dir).gateway_responses(context)
