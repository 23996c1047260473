"""Tests of local/dynamodb.py: the template's DynamoDB tables on moto, and the runner's use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.dynamodb import (
    create_table_kwargs,
    create_template_tables,
    dynamodb_client,
    empty_table,
)
from local.run import merged_environment
from local.sqs import LocalSqs
from local.template import REPO_ROOT, Template, TemplateError
from tests.processes import stop

IDEMPOTENCY_TABLE = """
  IdempotencyTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: id, AttributeType: S}
      KeySchema:
        - {AttributeName: id, KeyType: HASH}
      TimeToLiveSpecification: {AttributeName: expiration, Enabled: true}
      SSESpecification: {SSEEnabled: true}
"""


def template_with_table(tmp_path: Path) -> Template:
    """A copy of template.yaml (next to the real code) plus IdempotencyTable and its env var."""
    text = (REPO_ROOT / "template.yaml").read_text(encoding="utf-8")
    if "IdempotencyTable:" not in text:  # the repository's template may have it already
        marker = "        DEAD_LETTER_QUEUE_URL: !Ref DeadLetterQueue\n"
        assert text.count(marker) == 1
        text = text.replace(marker, marker + "        IDEMPOTENCY_TABLE: !Ref IdempotencyTable\n")
        text = text.replace("\nResources:\n", "\nResources:" + IDEMPOTENCY_TABLE, 1)
    # CodeUri/ContentUri are relative: point them at the repository, not at tmp_path.
    for key in ("CodeUri", "ContentUri"):
        text = text.replace(f"{key}: ", f"{key}: {REPO_ROOT}/")
    path = tmp_path / "template.yaml"
    path.write_text(text, encoding="utf-8")
    return Template.load(path)


@pytest.fixture
def moto() -> Iterator[LocalSqs]:
    """A moto server on a free port."""
    server = LocalSqs(port=0)
    server.start()
    yield server
    server.stop()


def unique_stack() -> str:
    """A stack name no other test uses (moto's state is shared by the process)."""
    return f"test-{uuid.uuid4().hex[:8]}"


def test_table_created_with_ttl_and_refs_resolve(tmp_path: Path, moto: LocalSqs) -> None:
    """The table exists with its key, billing, SSE and TTL; Ref/GetAtt and env resolve."""
    template = template_with_table(tmp_path)
    assert list(template.tables()) == ["IdempotencyTable", "FreshnessTable"]
    context = template.context(
        {
            "RichpanelSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rp",
            "InboundSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:in",
        },
        stack_name=unique_stack(),
    )
    client = dynamodb_client(moto.endpoint_url, context.region)
    tables = create_template_tables(client, template, context)

    name = f"{context.stack_name}-IdempotencyTable"
    arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{name}"
    assert set(tables) == {"IdempotencyTable", "FreshnessTable"}
    assert tables["FreshnessTable"].ttl_attribute == "expires"
    assert (tables["IdempotencyTable"].name, tables["IdempotencyTable"].arn) == (name, arn)
    assert tables["IdempotencyTable"].ttl_attribute == "expiration"
    assert context.resolve({"Ref": "IdempotencyTable"}) == name
    assert context.resolve({"Fn::GetAtt": ["IdempotencyTable", "Arn"]}) == arn
    assert context.resolve({"Fn::Sub": "${IdempotencyTable.Arn}/index/*"}) == arn + "/index/*"

    table = client.describe_table(TableName=name)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSEDescription"]["Status"] == "ENABLED"
    ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiration"}

    for index in range(30):
        client.put_item(TableName=name, Item={"id": {"S": f"k{index}"}, "expiration": {"N": "1"}})
    assert empty_table(client, name) == 30
    assert client.scan(TableName=name)["Count"] == 0

    context.refs.update({"RetryQueue": "http://q/retry", "DeadLetterQueue": "http://q/dlq"})
    env = merged_environment(list(template.functions().values()), context, {})
    assert env["IDEMPOTENCY_TABLE"] == name
    assert env["FRESHNESS_TABLE"] == f"{context.stack_name}-FreshnessTable"


def test_create_table_kwargs_translate_cloudformation_shapes() -> None:
    """TableName, provisioned throughput, indexes, streams, SSE flag and tags map to the API."""
    template = Template(
        {
            "Parameters": {"Env": {"Type": "String", "Default": "dev"}},
            "Resources": {
                "Things": {
                    "Type": "AWS::DynamoDB::Table",
                    "Properties": {
                        "TableName": {"Fn::Sub": "things-${Env}"},
                        "AttributeDefinitions": [
                            {"AttributeName": "pk", "AttributeType": "S"},
                            {"AttributeName": "gk", "AttributeType": "N"},
                        ],
                        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                        "ProvisionedThroughput": {
                            "ReadCapacityUnits": "5",
                            "WriteCapacityUnits": 2,
                        },
                        "GlobalSecondaryIndexes": [
                            {
                                "IndexName": "by-gk",
                                "KeySchema": [{"AttributeName": "gk", "KeyType": "HASH"}],
                                "Projection": {"ProjectionType": "ALL"},
                                "ProvisionedThroughput": {
                                    "ReadCapacityUnits": 1,
                                    "WriteCapacityUnits": 1,
                                },
                                "ContributorInsightsSpecification": {"Enabled": True},
                            }
                        ],
                        "StreamSpecification": {"StreamViewType": "NEW_IMAGE"},
                        "SSESpecification": {
                            "SSEEnabled": "true",
                            "SSEType": "KMS",
                            "KMSMasterKeyId": {"Fn::GetAtt": ["NotLocal", "Arn"]},
                        },
                        "Tags": [{"Key": "env", "Value": {"Ref": "Env"}}],
                    },
                },
                "Broken": {
                    "Type": "AWS::DynamoDB::Table",
                    "Properties": {
                        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                    },
                },
            },
        },
        REPO_ROOT,
    )
    context = template.context()
    kwargs: dict[str, Any] = create_table_kwargs(template, "Things", context)
    assert kwargs["TableName"] == "things-dev"
    assert kwargs["BillingMode"] == "PROVISIONED"
    assert kwargs["ProvisionedThroughput"] == {"ReadCapacityUnits": 5, "WriteCapacityUnits": 2}
    assert "ContributorInsightsSpecification" not in kwargs["GlobalSecondaryIndexes"][0]
    assert kwargs["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert kwargs["SSESpecification"] == {"Enabled": True}
    assert kwargs["Tags"] == [{"Key": "env", "Value": "dev"}]
    with pytest.raises(TemplateError, match="ProvisionedThroughput"):
        create_table_kwargs(template, "Broken", context)


def test_template_without_tables_creates_none(moto: LocalSqs) -> None:
    """Without table resources nothing is created or registered."""
    template = Template({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}, REPO_ROOT)
    context = template.context()
    client = dynamodb_client(moto.endpoint_url, context.region)
    assert template.tables() == {}
    assert create_template_tables(client, template, context) == {}
    assert (context.refs, context.attributes) == ({}, {})


def test_local_run_creates_table_and_reports_it(tmp_path: Path) -> None:
    """`python -m local.run` on the template with a table: ready file, banner, moto table."""
    template_with_table(tmp_path)
    ready_file = tmp_path / "ready.json"
    log_path = tmp_path / "stack.log"
    declared = {
        name
        for spec in Template.load().functions().values()
        for name in (*spec.environment, "IDEMPOTENCY_TABLE")
    }
    env = {name: value for name, value in os.environ.items() if name not in declared}
    command = [sys.executable, "-m", "local.run", "--template", str(tmp_path / "template.yaml")]
    command += ["--api-port", "0", "--sandbox-port", "0", "--ready-file", str(ready_file)]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while not ready_file.exists():
            log = log_path.read_text(encoding="utf-8", errors="replace")
            assert process.poll() is None, f"local.run exited {process.returncode}:\n{log}"
            assert time.monotonic() < deadline, f"local.run not ready:\n{log}"
            time.sleep(0.1)
        info = json.loads(ready_file.read_text(encoding="utf-8"))
        table_name = "richpanel-destination-local-IdempotencyTable"
        marks = "richpanel-destination-local-FreshnessTable"
        assert info["tables"] == {"IdempotencyTable": table_name, "FreshnessTable": marks}
        assert set(info["queues"]) == {"RetryQueue", "DeadLetterQueue"}
        client = dynamodb_client(info["sqs_endpoint"], "us-east-1")
        assert sorted(client.list_tables()["TableNames"]) == [marks, table_name]
        ttl = client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
        assert ttl["TimeToLiveStatus"] == "ENABLED"
        deadline = time.monotonic() + 10
        while "Ctrl-C to stop." not in log_path.read_text(encoding="utf-8", errors="replace"):
            assert time.monotonic() < deadline, "no banner"
            time.sleep(0.1)
        banner = log_path.read_text(encoding="utf-8", errors="replace")
        assert f"DynamoDB (moto, same endpoint): {info['sqs_endpoint']}" in banner
        assert f"IdempotencyTable {table_name}  (TTL on expiration)" in banner
    finally:
        stop(process)
