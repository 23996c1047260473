"""Deduplication on messageId against moto's in-process DynamoDB (a unit test: mocked AWS)."""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from richpanel_destination.delivery.dedupe import Deduplicator
from richpanel_destination.richpanel.outcomes import Kind, Outcome

OK = Outcome(Kind.DELIVERED, "Richpanel answered 200", 200)
DOWN = Outcome(Kind.RETRYABLE, "Richpanel answered 503", 503)


@pytest.fixture
def table(mocked_aws: None) -> Iterator[str]:
    boto3.client("dynamodb").create_table(
        TableName="idem",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield "idem"


class Counting:
    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes)
        self.sent = 0

    def __call__(self, call: Any) -> Outcome:
        self.sent += 1
        return self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]


def test_second_delivery_of_a_message_id_is_a_duplicate_without_a_call(table: str) -> None:
    send = Counting(OK)
    dedupe = Deduplicator(table, 3600)
    assert dedupe.send("m1", {"event": "x"}, send).kind is Kind.DELIVERED
    again = Deduplicator(table, 3600).send("m1", {"event": "x"}, send)  # another container
    assert (again.kind, again.status) == (Kind.DUPLICATE, 200)
    assert send.sent == 1


def test_a_failed_attempt_leaves_no_record(table: str) -> None:
    send = Counting(DOWN, OK)
    dedupe = Deduplicator(table, 3600)
    assert dedupe.send("m2", {}, send) == DOWN
    assert dedupe.send("m2", {}, send).kind is Kind.DELIVERED
    assert send.sent == 2


def test_in_flight_duplicate_is_reported_not_sent(table: str) -> None:
    dedupe = Deduplicator(table, 3600)
    seen: list[Outcome] = []

    def slow_send(call: Any) -> Outcome:
        seen.append(Deduplicator(table, 3600).send("m3", call, Counting(OK)))  # arrives meanwhile
        return OK

    assert dedupe.send("m3", {}, slow_send).kind is Kind.DELIVERED
    assert [o.kind for o in seen] == [Kind.IN_FLIGHT]


def test_no_message_id_means_no_deduplication(table: str) -> None:
    send = Counting(OK)
    dedupe = Deduplicator(table, 3600)
    dedupe.send(None, {}, send)
    dedupe.send(None, {}, send)
    assert send.sent == 2
