"""Creation of the template's DynamoDB tables on the moto server (the one SQS uses)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3

from local.sqs import FAKE_ACCESS_KEY, FAKE_SECRET_KEY
from local.template import ResolveContext, Template, TemplateError

# Keys of a CloudFormation index that CreateTable takes as they are (others, such as
# ContributorInsightsSpecification, are CloudFormation-only and left out).
_GSI_KEYS = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput", "OnDemandThroughput")
_LSI_KEYS = ("IndexName", "KeySchema", "Projection")
# Table properties the local stack uses; the rest (KMS, Kinesis, imports...) is ignored.
_CREATE_PROPERTIES = (
    "KeySchema",
    "AttributeDefinitions",
    "BillingMode",
    "ProvisionedThroughput",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "StreamSpecification",
    "TableClass",
    "DeletionProtectionEnabled",
    "Tags",
)
_UPDATE_PROPERTIES = ("TimeToLiveSpecification", "PointInTimeRecoverySpecification")


@dataclass(frozen=True)
class TableInfo:
    """A created table."""

    logical_id: str
    name: str
    arn: str
    ttl_attribute: str | None = None
    stream_arn: str | None = None


def table_arn(context: ResolveContext, name: str) -> str:
    """ARN of a table called name in the context's partition, region and account."""
    return f"arn:{context.partition}:dynamodb:{context.region}:{context.account_id}:table/{name}"


def dynamodb_client(endpoint_url: str, region: str) -> Any:
    """boto3 DynamoDB client for the local endpoint with fake credentials."""
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=FAKE_ACCESS_KEY,
        aws_secret_access_key=FAKE_SECRET_KEY,
    )


def _flag(value: Any) -> bool:
    """A CloudFormation boolean (true/false, or the strings a parameter gives)."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _throughput(value: Mapping[str, Any]) -> dict[str, int]:
    return {key: int(item) for key, item in value.items()}


def _index(value: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    index = {key: value[key] for key in keys if key in value}
    if "ProvisionedThroughput" in index:
        index["ProvisionedThroughput"] = _throughput(index["ProvisionedThroughput"])
    return index


def _resolved_properties(
    template: Template, logical_id: str, context: ResolveContext, names: tuple[str, ...]
) -> dict[str, Any]:
    """The named Properties, resolved (others may use intrinsics the local stack lacks)."""
    props = template.properties(logical_id)
    return {name: context.resolve(props[name]) for name in names if name in props}


def register_template_tables(template: Template, context: ResolveContext) -> None:
    """Make !Ref (table name) and !GetAtt X.Arn of every table resolvable in context."""
    for logical_id in template.tables():
        name = template.table_name(logical_id, context)
        context.refs[logical_id] = name
        context.attributes.setdefault(logical_id, {})["Arn"] = table_arn(context, name)


def create_table_kwargs(
    template: Template, logical_id: str, context: ResolveContext
) -> dict[str, Any]:
    """DynamoDB CreateTable arguments from the table's template Properties."""
    props = _resolved_properties(template, logical_id, context, _CREATE_PROPERTIES)
    for required in ("KeySchema", "AttributeDefinitions"):
        if not props.get(required):
            raise TemplateError(f"{logical_id}: {required} is required")
    billing_mode = str(props.get("BillingMode", "PROVISIONED"))
    kwargs: dict[str, Any] = {
        "TableName": template.table_name(logical_id, context),
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": billing_mode,
    }
    if "ProvisionedThroughput" in props:
        kwargs["ProvisionedThroughput"] = _throughput(props["ProvisionedThroughput"])
    elif billing_mode == "PROVISIONED":
        raise TemplateError(f"{logical_id}: BillingMode PROVISIONED needs ProvisionedThroughput")
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = [
            _index(index, _GSI_KEYS) for index in props["GlobalSecondaryIndexes"]
        ]
    if props.get("LocalSecondaryIndexes"):
        kwargs["LocalSecondaryIndexes"] = [
            _index(index, _LSI_KEYS) for index in props["LocalSecondaryIndexes"]
        ]
    stream = props.get("StreamSpecification")
    if stream and stream.get("StreamViewType"):
        kwargs["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": str(stream["StreamViewType"]),
        }
    # A customer managed KMS key would not exist in moto: SSE uses moto's default key.
    sse = template.properties(logical_id).get("SSESpecification") or {}
    if "SSEEnabled" in sse:
        kwargs["SSESpecification"] = {"Enabled": _flag(context.resolve(sse["SSEEnabled"]))}
    if "TableClass" in props:
        kwargs["TableClass"] = str(props["TableClass"])
    if "DeletionProtectionEnabled" in props:
        kwargs["DeletionProtectionEnabled"] = _flag(props["DeletionProtectionEnabled"])
    if props.get("Tags"):
        kwargs["Tags"] = [{"Key": str(t["Key"]), "Value": str(t["Value"])} for t in props["Tags"]]
    return kwargs


def create_template_tables(
    client: Any, template: Template, context: ResolveContext
) -> dict[str, TableInfo]:
    """Create every AWS::DynamoDB::Table of the template, with TTL and point-in-time recovery.

    Fills context.refs (table name) and context.attributes (Arn, StreamArn) so the same
    context later resolves !Ref / !GetAtt of the tables.
    """
    register_template_tables(template, context)
    created: dict[str, TableInfo] = {}
    for logical_id in template.tables():
        kwargs = create_table_kwargs(template, logical_id, context)
        name = kwargs["TableName"]
        try:
            description = client.create_table(**kwargs)["TableDescription"]
        except client.exceptions.ResourceInUseException:
            # moto keeps state per process: a second stack in it finds the table, as SQS does
            description = client.describe_table(TableName=name)["Table"]
        props = _resolved_properties(template, logical_id, context, _UPDATE_PROPERTIES)
        ttl = props.get("TimeToLiveSpecification") or {}
        ttl_attribute = None
        if _flag(ttl.get("Enabled", False)) and ttl.get("AttributeName"):
            ttl_attribute = str(ttl["AttributeName"])
            client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute},
            )
        recovery = props.get("PointInTimeRecoverySpecification") or {}
        if _flag(recovery.get("PointInTimeRecoveryEnabled", False)):
            client.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
        arn = str(description.get("TableArn") or table_arn(context, name))
        stream_arn = description.get("LatestStreamArn")
        context.attributes[logical_id]["Arn"] = arn
        if stream_arn:
            context.attributes[logical_id]["StreamArn"] = str(stream_arn)
        created[logical_id] = TableInfo(logical_id, name, arn, ttl_attribute, stream_arn)
    return created


def empty_table(client: Any, name: str) -> int:
    """Delete every item of a table (e.g. idempotency records between tests); returns the count."""
    key_names = [
        k["AttributeName"] for k in client.describe_table(TableName=name)["Table"]["KeySchema"]
    ]
    deleted = 0
    paginator = client.get_paginator("scan")
    for page in paginator.paginate(
        TableName=name,
        ProjectionExpression=", ".join(f"#k{i}" for i in range(len(key_names))),
        ExpressionAttributeNames={f"#k{i}": key for i, key in enumerate(key_names)},
    ):
        for item in page.get("Items", []):
            client.delete_item(TableName=name, Key={key: item[key] for key in key_names})
            deleted += 1
    return deleted
