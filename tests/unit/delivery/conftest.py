"""Fixtures of the delivery tests: an idempotency table on moto's in-process DynamoDB."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest


@pytest.fixture
def table(mocked_aws: None) -> Iterator[str]:
    boto3.client("dynamodb").create_table(
        TableName="idem",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield "idem"
