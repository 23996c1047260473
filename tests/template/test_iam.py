"""Least privilege: every permission each function's execution role grants, exactly.

The SAM template is translated to plain CloudFormation (policy templates and SAM's automatic
policies expanded), then every (action, resource) pair of each role is collected and compared
with what the code needs (docs/security.md has the table and the reasons).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
XRAY_WRITE_ONLY = "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"
# AWS-managed policies a role may carry: logs for the function, X-Ray for Tracing: Active.
# Both grant on Resource "*", which X-Ray requires and which lets logs reach a log group whose
# name CloudFormation only picks when it creates the function.
ALLOWED_MANAGED_POLICIES = {BASIC_EXECUTION, XRAY_WRITE_ONLY}

# What Powertools' DynamoDBPersistenceLayer calls (get/put/update/delete_item), nothing more.
IDEMPOTENCY = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
# The SQS event source mapping needs Receive/Delete/GetQueueAttributes; the handler's backoff
# needs ChangeMessageVisibility. A batch call is authorised by its single action.
POLL = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ChangeMessageVisibility",
)

# Deployment variants: the IAM surface must not depend on the edge options.
VARIANTS = [
    {},
    {"CreateWebAcl": "true"},
    {"WebAclArn": "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/edge/0a1b2c3d"},
    {"ApiAllowedSourceCidrs": "192.0.2.0/24,198.51.100.7/32"},
]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_of(cfn: Any, function_id: str) -> str:
    """Logical id of the IAM role a function runs with."""
    role = cfn.resources[function_id]["Properties"]["Role"]
    assert isinstance(role, dict) and "Fn::GetAtt" in role, f"{function_id}: role {role!r}"
    role_id, attribute = role["Fn::GetAtt"]
    assert attribute == "Arn"
    assert cfn.resources[role_id]["Type"] == "AWS::IAM::Role"
    return str(role_id)


def statements_of(cfn: Any, role_id: str) -> list[dict[str, Any]]:
    """Every statement the role's inline policies hold, intrinsics evaluated."""
    statements: list[dict[str, Any]] = []
    for policy in cfn.properties(role_id).get("Policies", []):
        statements += as_list(policy["PolicyDocument"]["Statement"])
    return statements


# ARNs that policy templates build from a name, spelled the way !GetAtt X.Arn is evaluated.
_BUILT_ARNS = [
    (re.compile(r"^arn:aws:sqs:[a-z0-9-]+:\d{12}:<(\w+)\.QueueName>$"), r"<\1.Arn>"),
    (re.compile(r"^arn:aws:dynamodb:[a-z0-9-]+:\d{12}:table/<(\w+)>$"), r"<\1.Arn>"),
]


def canonical(resource: str) -> str:
    """One spelling per resource, so a test checks what is granted, not how it is written."""
    for pattern, replacement in _BUILT_ARNS:
        resource = pattern.sub(replacement, resource)
    return resource


def grants(cfn: Any, role_id: str) -> set[tuple[str, str]]:
    """(action, resource) for every Allow of the role's inline policies."""
    pairs: set[tuple[str, str]] = set()
    for statement in statements_of(cfn, role_id):
        assert statement["Effect"] == "Allow", statement
        assert not {"NotAction", "NotResource", "Principal"} & set(statement), statement
        for action in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                pairs.add((action, canonical(resource)))
    return pairs


def managed_policies(cfn: Any, role_id: str) -> set[str]:
    return set(cfn.properties(role_id).get("ManagedPolicyArns", []))


def expected_ingest(cfn: Any) -> set[tuple[str, str]]:
    return {
        ("sqs:SendMessage", "<RetryQueue.Arn>"),
        ("sqs:SendMessage", "<DeadLetterQueue.Arn>"),
        *((action, "<IdempotencyTable.Arn>") for action in IDEMPOTENCY),
        ("dynamodb:UpdateItem", "<FreshnessTable.Arn>"),  # leases and marks: updates only
        ("secretsmanager:GetSecretValue", cfn.parameters["RichpanelSecretArn"]),
        ("secretsmanager:GetSecretValue", cfn.parameters["InboundSecretArn"]),
    }


def expected_retry(cfn: Any) -> set[tuple[str, str]]:
    return {
        *((action, "<RetryQueue.Arn>") for action in POLL),
        ("sqs:SendMessage", "<DeadLetterQueue.Arn>"),
        *((action, "<IdempotencyTable.Arn>") for action in IDEMPOTENCY),
        ("dynamodb:UpdateItem", "<FreshnessTable.Arn>"),  # leases and marks: updates only
        ("secretsmanager:GetSecretValue", cfn.parameters["RichpanelSecretArn"]),
    }


REST_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rd/rest-MnOpQr"


def expected_canary(cfn: Any) -> set[tuple[str, str]]:
    """The write key (to send through the API) and the REST key (to read back); no
    cloudwatch:PutMetricData: its metrics are EMF log lines."""
    return {
        ("secretsmanager:GetSecretValue", cfn.parameters["InboundSecretArn"]),
        ("secretsmanager:GetSecretValue", REST_SECRET_ARN),
    }


@pytest.mark.parametrize("parameters", VARIANTS, ids=lambda p: ",".join(p) or "defaults")
def test_canary_role_grants_exactly_what_the_canary_needs(
    cfn_for: Callable[..., Any], parameters: dict[str, str]
) -> None:
    """Its own role: read its two secrets, logs and X-Ray; not Richpanel's secret, no queue."""
    cfn = cfn_for(RichpanelRestSecretArn=REST_SECRET_ARN, **parameters)
    role_id = role_of(cfn, "CanaryFunction")
    assert role_id == "CanaryFunctionRole"
    assert cfn.active(role_id)
    assert grants(cfn, role_id) == expected_canary(cfn)
    assert managed_policies(cfn, role_id) == ALLOWED_MANAGED_POLICIES
    assert role_id not in {role_of(cfn, fid) for fid in ("IngestFunction", "RetryFunction")}


def test_no_canary_role_without_its_secret(cfn: Any) -> None:
    assert not cfn.active("CanaryFunctionRole")
    assert not cfn.active("CanaryFunction")


@pytest.mark.parametrize("parameters", VARIANTS, ids=lambda p: ",".join(p) or "defaults")
def test_ingest_role_grants_exactly_what_ingest_needs(
    cfn_for: Callable[..., Any], parameters: dict[str, str]
) -> None:
    """Send to the retry queue and the DLQ, idempotency records, its two secrets; nothing else."""
    cfn = cfn_for(**parameters)
    role_id = role_of(cfn, "IngestFunction")
    assert grants(cfn, role_id) == expected_ingest(cfn)
    assert managed_policies(cfn, role_id) == ALLOWED_MANAGED_POLICIES


@pytest.mark.parametrize("parameters", VARIANTS, ids=lambda p: ",".join(p) or "defaults")
def test_retry_role_grants_exactly_what_retry_needs(
    cfn_for: Callable[..., Any], parameters: dict[str, str]
) -> None:
    """Poll/backoff/delete on the retry queue, send to the DLQ, idempotency, Richpanel's secret."""
    cfn = cfn_for(**parameters)
    role_id = role_of(cfn, "RetryFunction")
    assert grants(cfn, role_id) == expected_retry(cfn)
    # Not AWSLambdaSQSQueueExecutionRole, which SAM attaches to a generated role for an SQS
    # event and which may receive and delete on every queue of the account.
    assert managed_policies(cfn, role_id) == ALLOWED_MANAGED_POLICIES


def test_retry_may_not_read_inbound_credentials(cfn: Any) -> None:
    """Only ingest authenticates senders; retry never sees the write keys or webhook secrets."""
    resources = {resource for _, resource in grants(cfn, role_of(cfn, "RetryFunction"))}
    assert cfn.parameters["InboundSecretArn"] not in resources


def expected_audit() -> set[tuple[str, str]]:
    """Start queries on the two functions' log groups, read their results; nothing else."""
    return {
        ("logs:StartQuery", "<IngestLogGroup.Arn>"),
        ("logs:StartQuery", "<RetryLogGroup.Arn>"),
        ("logs:GetQueryResults", "*"),  # no resource type: only queries the role started
    }


@pytest.mark.parametrize("parameters", VARIANTS, ids=lambda p: ",".join(p) or "defaults")
def test_audit_role_grants_exactly_what_the_audit_needs(
    cfn_for: Callable[..., Any], parameters: dict[str, str]
) -> None:
    cfn = cfn_for(**parameters)
    role_id = role_of(cfn, "AuditFunction")
    assert role_id == "AuditFunctionRole"
    assert grants(cfn, role_id) == expected_audit()
    assert managed_policies(cfn, role_id) == ALLOWED_MANAGED_POLICIES


# Actions IAM cannot scope to a resource, allowed on "*" only where listed.
UNSCOPED = {("AuditFunctionRole", "logs:GetQueryResults")}


def test_no_wildcard_action_or_resource_in_any_inline_policy(cfn: Any) -> None:
    """No '*' in an action (not even sqs:SendMessage*) and none in a resource (not even index/*)."""
    for role_id in cfn.of_type("AWS::IAM::Role"):
        for action, resource in grants(cfn, role_id):
            if (role_id, action) in UNSCOPED:
                assert resource == "*"
                continue
            assert "*" not in action, (role_id, action)
            assert "*" not in resource, (role_id, action, resource)


def test_only_function_roles_and_only_allowed_managed_policies(cfn: Any) -> None:
    """Every role belongs to a function, trusts only Lambda, and nothing else grants IAM rights."""
    function_roles = {role_of(cfn, fid) for fid in cfn.of_type("AWS::Lambda::Function")}
    assert set(cfn.of_type("AWS::IAM::Role")) == function_roles
    for role_id in function_roles:
        trust = cfn.properties(role_id)["AssumeRolePolicyDocument"]["Statement"]
        assert [
            (s["Effect"], as_list(s["Action"]), as_list(s["Principal"]["Service"]))
            for s in as_list(trust)
        ] == [("Allow", ["sts:AssumeRole"], ["lambda.amazonaws.com"])]
        assert managed_policies(cfn, role_id) <= ALLOWED_MANAGED_POLICIES
    others = {
        logical_id: resource["Type"]
        for logical_id, resource in cfn.resources.items()
        if resource["Type"].startswith("AWS::IAM::") and resource["Type"] != "AWS::IAM::Role"
    }
    assert others == {}, "policies attached outside the roles escape these tests"


def test_functions_use_the_resources_they_are_granted(cfn: Any) -> None:
    """The grants name the queues, table and secrets the code is pointed at, not look-alikes."""
    for function_id in ("IngestFunction", "RetryFunction"):
        env = cfn.properties(function_id)["Environment"]["Variables"]
        assert env["RETRY_QUEUE_URL"] == "<RetryQueue>"
        assert env["DEAD_LETTER_QUEUE_URL"] == "<DeadLetterQueue>"
        assert env["IDEMPOTENCY_TABLE"] == "<IdempotencyTable>"
        assert env["FRESHNESS_TABLE"] == "<FreshnessTable>"
        assert env["RICHPANEL_SECRET_ARN"] == cfn.parameters["RichpanelSecretArn"]
    assert (
        cfn.properties("IngestFunction")["Environment"]["Variables"]["INBOUND_SECRET_ARN"]
        == cfn.parameters["InboundSecretArn"]
    )
    mappings = cfn.active_of_type("AWS::Lambda::EventSourceMapping")
    assert [
        (cfn.properties(key)["FunctionName"], cfn.properties(key)["EventSourceArn"])
        for key in mappings
    ] == [("<RetryFunction>", "<RetryQueue.Arn>")]


def test_the_freshness_guard_switches_off_by_a_parameter(cfn_for: Callable[..., Any]) -> None:
    """FreshestDataWins=false leaves FRESHNESS_TABLE empty: the code then sends as mapped."""
    cfn = cfn_for(FreshestDataWins="false")
    for function_id in ("IngestFunction", "RetryFunction"):
        assert cfn.properties(function_id)["Environment"]["Variables"]["FRESHNESS_TABLE"] == ""
