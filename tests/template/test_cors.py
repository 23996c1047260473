"""CORS on the API (AllowedOrigins): the parameter, OPTIONS routes to the function on both
APIs, API Gateway's own answers (gateway responses, WAF's 413) and the source-CIDR Rule.

Evaluated on the translated template, as test_http_api.py does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.template.test_http_api import CIDRS, refused_by

SITES = "https://shop.example.com,https://www.example.com"
ORIGIN_HEADER = "gatewayresponse.header.Access-Control-Allow-Origin"
ROUTES = 15


def body_paths(cfn: Any, logical_id: str) -> dict[str, dict[str, Any]]:
    paths: dict[str, dict[str, Any]] = cfn.properties(logical_id)["Body"]["paths"]
    return paths


def gateway_responses(cfn: Any) -> dict[str, Any]:
    responses: dict[str, Any] = cfn.properties("IngestApi")["Body"][
        "x-amazon-apigateway-gateway-responses"
    ]
    return responses


def test_no_browser_origin_is_allowed_by_default(cfn: Any) -> None:
    spec = cfn.template["Parameters"]["AllowedOrigins"]
    assert spec["Type"] == "CommaDelimitedList"
    assert spec["Default"] == ""
    variables = cfn.properties("IngestFunction")["Environment"]["Variables"]
    assert variables["ALLOWED_ORIGINS"] == ""


def test_the_function_gets_the_origins(cfn_for: Callable[..., Any]) -> None:
    cfn = cfn_for(AllowedOrigins=SITES)
    assert cfn.properties("IngestFunction")["Environment"]["Variables"]["ALLOWED_ORIGINS"] == SITES


@pytest.mark.parametrize("api", ["IngestApi", "IngestHttpApi"])
def test_every_route_routes_its_preflight_to_the_function(
    cfn_for: Callable[..., Any], api: str
) -> None:
    """SAM's Cors takes one origin and answers preflights itself: the function answers them."""
    paths = body_paths(cfn_for(ApiKind="http"), api)
    assert len(paths) == ROUTES
    for path, methods in paths.items():
        assert set(methods) == {"post", "options"}, path
        options = methods["options"]
        assert "security" not in options  # no authorizer: a preflight carries no credentials
        integration = options["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy"
        assert "<IngestFunction.Arn>" in integration["uri"]


def test_the_rest_api_may_invoke_the_function_for_preflights(cfn: Any) -> None:
    arns = [
        str(cfn.properties(logical_id)["SourceArn"])
        for logical_id in cfn.active_of_type("AWS::Lambda::Permission")
        if "<IngestApi>" in str(cfn.properties(logical_id)["SourceArn"])
    ]
    assert sum("/OPTIONS/v1/" in arn for arn in arns) == ROUTES


@pytest.mark.parametrize(
    ("origins", "value"),
    [(SITES, "method.request.header.Origin"), ("*", "'*'")],
    ids=["listed-origins-echoed", "any-origin"],
)
def test_api_gateway_error_answers_carry_cors_headers(
    cfn_for: Callable[..., Any], origins: str, value: str
) -> None:
    """403 Missing Authentication Token, 429 throttled, 5xx: DEFAULT_4XX and DEFAULT_5XX."""
    responses = gateway_responses(cfn_for(AllowedOrigins=origins))
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX"):
        parameters = responses[kind]["responseParameters"]
        assert parameters[ORIGIN_HEADER] == value
        assert parameters["gatewayresponse.header.Vary"] == "'Origin'"
        # API Gateway's own body, unchanged
        templates = responses[kind]["responseTemplates"]
        assert templates == {"application/json": '{"message":$context.error.messageString}'}


def test_without_origins_api_gateway_answers_carry_no_allow_origin(cfn: Any) -> None:
    for spec in gateway_responses(cfn).values():
        assert ORIGIN_HEADER not in spec["responseParameters"]


def waf_413_headers(cfn: Any) -> list[Any]:
    rules = cfn.properties("IngestWebAcl")["Rules"]
    return [rule["Action"]["Block"]["CustomResponse"].get("ResponseHeaders") for rule in rules]


def test_waf_413_answers_carry_cors_headers(cfn_for: Callable[..., Any]) -> None:
    headers = waf_413_headers(cfn_for(CreateWebAcl="true", AllowedOrigins=SITES))
    assert headers == [[{"Name": "Access-Control-Allow-Origin", "Value": "*"}]] * 2
    assert waf_413_headers(cfn_for(CreateWebAcl="true")) == [None, None]


def test_browser_senders_and_a_source_ip_allowlist_exclude_each_other(
    cfn_for: Callable[..., Any],
) -> None:
    assert refused_by(cfn_for(AllowedOrigins=SITES, ApiAllowedSourceCidrs=CIDRS)) == [
        "BrowsersOrSourceCidrs"
    ]
    assert refused_by(cfn_for(AllowedOrigins=SITES)) == []
    assert refused_by(cfn_for(ApiAllowedSourceCidrs=CIDRS)) == []
