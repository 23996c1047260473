"""local/moto_fidelity.py: moto's SQS refuses what SQS refuses, and counts queues quickly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local.sqs import LocalSqs


@pytest.fixture(scope="module")
def sqs() -> Iterator[Any]:
    server = LocalSqs()
    server.start()
    try:
        client = server.client("us-east-1")
        yield client, client.create_queue(QueueName="fidelity")["QueueUrl"]
    finally:
        server.reset()
        server.stop()


def entry(body: str, message_id: str = "m-1") -> dict[str, Any]:
    return {
        "Id": "1",
        "MessageBody": body,
        "MessageAttributes": {"messageId": {"DataType": "String", "StringValue": message_id}},
    }


@pytest.mark.parametrize(
    ("body", "message_id"),
    [("bad \ufffe", "m-1"), ("bad \uffff", "m-1"), ("nul \x00", "m-1"), ("ok", "m\x01")],
    ids=["U+FFFE", "U+FFFF", "NUL", "control-in-attribute"],
)
def test_characters_sqs_refuses_are_refused(sqs: Any, body: str, message_id: str) -> None:
    client, url = sqs
    with pytest.raises(ClientError) as caught:
        client.send_message_batch(QueueUrl=url, Entries=[entry(body, message_id)])
    assert caught.value.response["Error"]["Code"] == "InvalidMessageContents"


def test_what_sqs_takes_is_taken(sqs: Any) -> None:
    client, url = sqs
    body = "tab\t new\n line\r é \U0001f600 \ud7ff \ue000 \ufffd"
    answer = client.send_message_batch(QueueUrl=url, Entries=[entry(body)])
    assert answer.get("Failed", []) == [] and len(answer["Successful"]) == 1


def test_counts_stay_right(sqs: Any) -> None:
    client, url = sqs
    client.purge_queue(QueueUrl=url)
    client.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    client.send_message(QueueUrl=url, MessageBody="now")
    received = client.receive_message(QueueUrl=url, VisibilityTimeout=60)["Messages"]
    assert [m["Body"] for m in received] == ["now"]
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"
