"""The DLQ and retry queue on moto's in-process SQS, for the redrive tests."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from .helpers import Queues


@pytest.fixture
def queues(mocked_aws: None) -> Iterator[Queues]:
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    retry = sqs.create_queue(QueueName="retry")["QueueUrl"]
    yield Queues(sqs, dlq, retry)
