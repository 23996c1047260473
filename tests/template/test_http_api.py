"""ApiKind: the REST API (default) or the HTTP API (API Gateway v2) in front of IngestFunction.

Both APIs are declared (SAM gives the function's API permissions no condition, so neither can
be conditional); ApiKind disables the other one's execute-api endpoint. Evaluated on the
translated template, as test_api_edges.py does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

CIDRS = "192.0.2.0/24"
WEB_ACL_ARN = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/edge/0a1b2c3d-1111-2222-3333"
REST_URL = "https://<IngestApi>.execute-api.us-east-1.amazonaws.com/live"
HTTP_URL = "https://<IngestHttpApi>.execute-api.us-east-1.amazonaws.com/live"


def refused_by(cfn: Any) -> list[str]:
    """The template Rules whose assertions fail with these parameters (what CloudFormation
    refuses before creating anything)."""
    failed = []
    for name, rule in cfn.template["Rules"].items():
        applies = "RuleCondition" not in rule or cfn.condition_value(rule["RuleCondition"])
        if applies and not all(cfn.condition_value(a["Assert"]) for a in rule["Assertions"]):
            failed.append(name)
    return failed


def endpoint_disabled(cfn: Any, logical_id: str) -> bool:
    """The API's disableExecuteApiEndpoint, as its OpenAPI body carries it."""
    body = cfn.properties(logical_id)["Body"]
    if "servers" in body:  # an HTTP API (OpenAPI 3)
        (server,) = body["servers"]
        configuration = server["x-amazon-apigateway-endpoint-configuration"]
    else:
        configuration = body["x-amazon-apigateway-endpoint-configuration"]
    disabled: bool = configuration["disableExecuteApiEndpoint"]
    return disabled


def routes(cfn: Any, logical_id: str) -> dict[str, dict[str, Any]]:
    """Path -> the POST integration of the API's body (every path also routes OPTIONS, the
    CORS preflight, to the same function: tests/template/test_cors.py)."""
    paths = cfn.properties(logical_id)["Body"]["paths"]
    assert all(set(methods) == {"post", "options"} for methods in paths.values()), paths
    for methods in paths.values():
        options = methods["options"]["x-amazon-apigateway-integration"]
        assert options["uri"] == methods["post"]["x-amazon-apigateway-integration"]["uri"]
    return {
        path: methods["post"]["x-amazon-apigateway-integration"] for path, methods in paths.items()
    }


@pytest.fixture(scope="module")
def http(cfn_for: Callable[..., Any]) -> Any:
    return cfn_for(ApiKind="http")


def test_rest_is_the_default_and_the_http_api_endpoint_is_off(cfn: Any) -> None:
    assert cfn.parameters["ApiKind"] == "rest"
    assert endpoint_disabled(cfn, "IngestApi") is False
    assert endpoint_disabled(cfn, "IngestHttpApi") is True


def test_api_kind_http_turns_the_rest_endpoint_off(http: Any) -> None:
    assert endpoint_disabled(http, "IngestApi") is True
    assert endpoint_disabled(http, "IngestHttpApi") is False


def test_both_apis_route_the_same_paths_to_the_ingest_function(http: Any) -> None:
    rest, v2 = routes(http, "IngestApi"), routes(http, "IngestHttpApi")
    assert set(rest) == set(v2)
    assert len(v2) == 15
    for integration in v2.values():
        assert integration["type"] == "aws_proxy"
        assert integration["payloadFormatVersion"] == "2.0"
        assert "<IngestFunction.Arn>" in integration["uri"]


def test_http_api_stage_is_throttled_like_the_rest_stage(cfn_for: Callable[..., Any]) -> None:
    cfn = cfn_for(ApiKind="http", ApiThrottleRateLimit="50", ApiThrottleBurstLimit="100")
    stage = cfn.properties("IngestHttpApiStage")
    assert stage["StageName"] == "live"
    assert stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": "50",
        "ThrottlingBurstLimit": "100",
    }


def test_every_http_route_may_invoke_the_function(http: Any) -> None:
    permissions = [
        http.properties(logical_id)
        for logical_id in http.active_of_type("AWS::Lambda::Permission")
        if "<IngestHttpApi>" in str(http.properties(logical_id)["SourceArn"])
    ]
    arns = sorted(p["SourceArn"] for p in permissions)
    assert len(arns) == 30  # POST and OPTIONS (the CORS preflight) on each of the 15 routes
    assert all(p["FunctionName"] == "<IngestFunction>" for p in permissions)
    prefix = "arn:aws:execute-api:us-east-1:123456789012:<IngestHttpApi>/*/"
    methods = sorted(arn.removeprefix(prefix).split("/v1/")[0] for arn in arns)
    assert methods == ["OPTIONS"] * 15 + ["POST"] * 15


@pytest.mark.parametrize(
    "parameters",
    [{"CreateWebAcl": "true"}, {"WebAclArn": WEB_ACL_ARN}, {"ApiAllowedSourceCidrs": CIDRS}],
    ids=["create-web-acl", "web-acl-arn", "source-cidrs"],
)
def test_an_http_api_refuses_what_only_a_rest_api_enforces(
    cfn_for: Callable[..., Any], parameters: dict[str, str]
) -> None:
    """No WAF association and no resource policy on an HTTP API: the Rules refuse the stack."""
    assert refused_by(cfn_for(ApiKind="http", **parameters)) == ["HttpApiEdges"]
    assert refused_by(cfn_for(ApiKind="rest", **parameters)) == []


def test_an_http_api_with_its_defaults_is_accepted(http: Any) -> None:
    assert refused_by(http) == []


@pytest.mark.parametrize(("kind", "url"), [("rest", REST_URL), ("http", HTTP_URL)])
def test_api_url_output_and_canary_follow_the_kind(
    cfn_for: Callable[..., Any], kind: str, url: str
) -> None:
    cfn = cfn_for(
        ApiKind=kind,
        RichpanelRestSecretArn="arn:aws:secretsmanager:us-east-1:123456789012:secret:rest-AbCdEf",
    )
    assert cfn.resolve(cfn.template["Outputs"]["ApiUrl"]["Value"]) == url
    assert cfn.resolve(cfn.template["Outputs"]["ApiKind"]["Value"]) == kind
    variables = cfn.properties("CanaryFunction")["Environment"]["Variables"]
    assert variables["CANARY_API_URL"] == url


def test_api_5xx_alarm_reads_the_http_api_metrics(cfn: Any, http: Any) -> None:
    """An HTTP API's metrics are per ApiId and named 5xx; a REST API's per ApiName, 5XXError."""
    rest_alarm, http_alarm = (
        cfn.properties("ApiServerErrorAlarm"),
        http.properties("ApiServerErrorAlarm"),
    )
    assert rest_alarm["MetricName"] == "5XXError"
    assert rest_alarm["Dimensions"][0] == {"Name": "ApiName", "Value": "richpanel-destination"}
    assert http_alarm["MetricName"] == "5xx"
    assert http_alarm["Dimensions"] == [
        {"Name": "ApiId", "Value": "<IngestHttpApi>"},
        {"Name": "Stage", "Value": "live"},
    ]


def test_dashboard_api_widgets_follow_the_kind(cfn: Any, http: Any) -> None:
    rest_body = cfn.properties("Dashboard")["DashboardBody"]
    http_body = http.properties("Dashboard")["DashboardBody"]
    assert '"ApiName", "richpanel-destination"' in rest_body and '"5XXError"' in rest_body
    assert '"ApiId", "<IngestHttpApi>"' in http_body and '"5xx"' in http_body
    assert "ApiName" not in http_body and "5XXError" not in http_body


def test_both_is_the_migration_step_where_the_two_endpoints_answer(
    cfn_for: Callable[..., Any],
) -> None:
    """ApiKind=both: the REST URL keeps answering while Segment is pointed at ApiUrl (the
    HTTP API's); the HTTP API's limits (no WAF, no resource policy) apply already."""
    cfn = cfn_for(ApiKind="both")
    assert endpoint_disabled(cfn, "IngestApi") is False
    assert endpoint_disabled(cfn, "IngestHttpApi") is False
    assert cfn.resolve(cfn.template["Outputs"]["ApiUrl"]["Value"]) == HTTP_URL
    assert refused_by(cfn) == []
    assert refused_by(cfn_for(ApiKind="both", ApiAllowedSourceCidrs=CIDRS)) == ["HttpApiEdges"]
