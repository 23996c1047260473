"""The API's edges: stage throttling, the optional source-IP resource policy, the optional WAF.

Evaluated on the translated template with the parameter values a deployment would pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

WEB_ACL_ARN = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/edge/0a1b2c3d-1111-2222-3333"
CIDRS = "192.0.2.0/24,198.51.100.7/32"
STAGE_ARN = "arn:aws:apigateway:us-east-1::/restapis/<IngestApi>/stages/<IngestApiStage>"
WAF_TYPES = ("AWS::WAFv2::WebACL", "AWS::WAFv2::WebACLAssociation")
# The ingest code's limits (richpanel_destination.limits) and the Content-Length from
# which the created web ACL answers 413, per route.
MAX_REQUEST_BYTES = 500 * 1024
WAF_BLOCKS_FROM = 600_000
WEBHOOK_MAX_REQUEST_BYTES = 4 * 1024 * 1024 + 256 * 1024
WEBHOOK_WAF_BLOCKS_FROM = 4_700_000


def method_settings(cfn: Any) -> list[dict[str, Any]]:
    (stage_id,) = cfn.active_of_type("AWS::ApiGateway::Stage")
    settings: list[dict[str, Any]] = cfn.properties(stage_id)["MethodSettings"]
    return settings


def waf_resources(cfn: Any) -> dict[str, str]:
    """Logical id -> type of the WAF resources CloudFormation would create."""
    return {
        logical_id: resource["Type"]
        for resource_type in WAF_TYPES
        for logical_id, resource in cfn.active_of_type(resource_type).items()
    }


def _regexes(statement: dict[str, Any]) -> list[str]:
    regexes = []
    for item in statement["OrStatement"]["Statements"]:
        match = item["RegexMatchStatement"]
        assert match["FieldToMatch"] == {"SingleHeader": {"Name": "content-length"}}
        assert match["TextTransformations"] == [{"Priority": 0, "Type": "NONE"}]
        regexes.append(match["RegexString"])
    return regexes


def size_rules(cfn: Any) -> dict[str, dict[str, Any]]:
    return {rule["Name"]: rule for rule in cfn.properties("IngestWebAcl")["Rules"]}


def size_rule_regexes(cfn: Any) -> list[str]:
    rules = size_rules(cfn)
    tracking = rules["RequestTooLarge"]["Statement"]["AndStatement"]["Statements"][1]
    return _regexes(tracking) + _regexes(rules["WebhookRequestTooLarge"]["Statement"])


def waf_blocks(cfn: Any, path: str, content_length: str) -> str | None:
    """The body key of the rule that blocks this request, evaluated as WAF would, or None."""
    for rule in sorted(size_rules(cfn).values(), key=lambda r: r["Priority"]):
        statement = rule["Statement"]
        if "AndStatement" in statement:
            skip, sizes = statement["AndStatement"]["Statements"]
            match = skip["NotStatement"]["Statement"]["ByteMatchStatement"]
            assert match["PositionalConstraint"] == "ENDS_WITH"
            assert match["FieldToMatch"] == {"UriPath": {}}
            if path.lower().endswith(match["SearchString"]):
                continue
        else:
            sizes = statement
        if any(re.search(rx, content_length) for rx in _regexes(sizes)):
            key: str = rule["Action"]["Block"]["CustomResponse"]["CustomResponseBodyKey"]
            return key
    return None


# --------------------------------------------------------------------------- throttling


def test_every_route_is_throttled_with_metrics_and_no_request_logging(cfn: Any) -> None:
    assert method_settings(cfn) == [
        {
            "ResourcePath": "/*",
            "HttpMethod": "*",
            "ThrottlingRateLimit": "500",
            "ThrottlingBurstLimit": "1000",
            "MetricsEnabled": True,
            "LoggingLevel": "OFF",
            "DataTraceEnabled": False,  # never log bodies: they carry personal data
        }
    ]


def test_throttling_follows_its_parameters(cfn_for: Callable[..., Any]) -> None:
    cfn = cfn_for(ApiThrottleRateLimit="50", ApiThrottleBurstLimit="100")
    (settings,) = method_settings(cfn)
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == ("50", "100")


# --------------------------------------------------------------------------- resource policy


def test_no_resource_policy_by_default(cfn: Any) -> None:
    assert "Policy" not in cfn.properties("IngestApi")


def test_resource_policy_admits_only_the_listed_source_ranges(cfn_for: Callable[..., Any]) -> None:
    cfn = cfn_for(ApiAllowedSourceCidrs=CIDRS)
    policy = cfn.properties("IngestApi")["Policy"]
    assert policy["Version"] == "2012-10-17"
    allow, deny = policy["Statement"]
    everything = {"Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"}
    assert allow == {"Effect": "Allow", **everything}
    assert deny == {
        "Effect": "Deny",
        **everything,
        "Condition": {"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "198.51.100.7/32"]}},
    }


def test_a_policy_change_is_deployed_with_the_stack(raw: dict[str, Any]) -> None:
    """A REST API's resource policy takes effect only once the API is deployed again."""
    assert raw["Resources"]["IngestApi"]["Properties"]["AlwaysDeploy"] is True


# --------------------------------------------------------------------------- WAF


def test_no_web_acl_by_default(cfn: Any) -> None:
    assert waf_resources(cfn) == {}


def test_created_web_acl_guards_the_stage(cfn_for: Callable[..., Any]) -> None:
    cfn = cfn_for(CreateWebAcl="true")
    assert waf_resources(cfn) == {
        "IngestWebAcl": "AWS::WAFv2::WebACL",
        "IngestWebAclAssociation": "AWS::WAFv2::WebACLAssociation",
    }
    association = cfn.properties("IngestWebAclAssociation")
    assert association == {"ResourceArn": STAGE_ARN, "WebACLArn": "<IngestWebAcl.Arn>"}
    stage = cfn.resources["IngestApiStage"]
    assert stage["Type"] == "AWS::ApiGateway::Stage"
    assert stage["Properties"]["RestApiId"] == {"Ref": "IngestApi"}

    acl = cfn.properties("IngestWebAcl")
    assert acl["Scope"] == "REGIONAL"
    assert acl["DefaultAction"] == {"Allow": {}}
    keys = ["RequestTooLarge", "WebhookRequestTooLarge"]
    assert [rule["Action"] for rule in acl["Rules"]] == [
        {"Block": {"CustomResponse": {"ResponseCode": 413, "CustomResponseBodyKey": key}}}
        for key in keys
    ]
    for key, limit in zip(keys, (MAX_REQUEST_BYTES, WEBHOOK_MAX_REQUEST_BYTES), strict=True):
        body = acl["CustomResponseBodies"][key]
        assert body["ContentType"] == "APPLICATION_JSON"
        assert f"({limit} bytes)" in json.loads(body["Content"])["message"]


def test_brought_web_acl_guards_the_stage(cfn_for: Callable[..., Any]) -> None:
    cfn = cfn_for(WebAclArn=WEB_ACL_ARN)
    assert waf_resources(cfn) == {"ExternalWebAclAssociation": "AWS::WAFv2::WebACLAssociation"}
    association = cfn.properties("ExternalWebAclAssociation")
    assert association == {"ResourceArn": STAGE_ARN, "WebACLArn": WEB_ACL_ARN}


def test_creating_and_bringing_a_web_acl_at_once_is_refused(cfn_for: Callable[..., Any]) -> None:
    """The template's Rules stop a stack that would attach two web ACLs to one stage."""

    def refused(**parameters: str) -> bool:
        cfn = cfn_for(**parameters)
        for rule in cfn.template["Rules"].values():
            applies = "RuleCondition" not in rule or cfn.condition_value(rule["RuleCondition"])
            if applies and not all(cfn.condition_value(a["Assert"]) for a in rule["Assertions"]):
                return True
        return False

    assert refused(CreateWebAcl="true", WebAclArn=WEB_ACL_ARN)
    assert not refused(CreateWebAcl="true")
    assert not refused(WebAclArn=WEB_ACL_ARN)
    assert not refused()


def test_web_acl_arn_pattern(raw: dict[str, Any]) -> None:
    pattern = raw["Parameters"]["WebAclArn"]["AllowedPattern"]
    assert re.fullmatch(pattern, "")
    assert re.fullmatch(pattern, WEB_ACL_ARN)
    assert not re.fullmatch(pattern, "arn:aws:waf-regional:us-east-1:123456789012:webacl/x")


@pytest.mark.parametrize(
    ("content_length", "blocked"),
    [
        ("0", False),
        ("512", False),
        (str(MAX_REQUEST_BYTES), False),  # the largest request ingest accepts
        (str(MAX_REQUEST_BYTES + 1000), False),  # gzip framing of an incompressible body
        (str(WAF_BLOCKS_FROM - 1), False),
        (str(WAF_BLOCKS_FROM), True),
        ("999999", True),
        ("1000000", True),
        ("10485760", True),  # API Gateway's own 10 MB limit
        ("00600000", True),  # leading zeros do not hide a large value
        ("0000512000", False),
        ("", False),
        ("abc", False),
    ],
)
def test_size_rule_blocks_content_length_from_600000(
    cfn_for: Callable[..., Any], content_length: str, blocked: bool
) -> None:
    cfn = cfn_for(CreateWebAcl="true")
    answer = waf_blocks(cfn, "/live/v1/batch", content_length)
    assert (answer is not None) is blocked
    if blocked and int(content_length or 0) < WEBHOOK_WAF_BLOCKS_FROM:
        assert answer == "RequestTooLarge"


@pytest.mark.parametrize(
    ("content_length", "blocked"),
    [
        (str(WAF_BLOCKS_FROM), False),  # the Tracking API limit does not apply here
        ("1000000", False),
        (str(WEBHOOK_MAX_REQUEST_BYTES), False),  # the largest request the webhook route takes
        (str(WEBHOOK_WAF_BLOCKS_FROM - 1), False),
        (str(WEBHOOK_WAF_BLOCKS_FROM), True),
        ("4999999", True),
        ("5000000", True),
        ("9999999", True),
        ("10485760", True),
        ("004700000", True),
        ("004699999", False),
    ],
)
@pytest.mark.parametrize("path", ["/live/v1/webhook", "/live/v1/WEBHOOK"])
def test_webhook_route_is_blocked_only_past_its_own_limit(
    cfn_for: Callable[..., Any], path: str, content_length: str, blocked: bool
) -> None:
    answer = waf_blocks(cfn_for(CreateWebAcl="true"), path, content_length)
    assert answer == ("WebhookRequestTooLarge" if blocked else None)


def test_size_rule_regexes_avoid_constructs_waf_rejects(cfn_for: Callable[..., Any]) -> None:
    """WAF supports no capturing groups (nor backreferences, lookarounds, possessives)."""
    for regex in size_rule_regexes(cfn_for(CreateWebAcl="true")):
        assert re.compile(regex).groups == 0, regex
        assert not re.search(r"\(\?[=!<>]|\\\d|[+*}]\+", regex), regex
