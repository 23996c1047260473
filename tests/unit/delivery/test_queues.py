import json
import re

from richpanel_destination.delivery.queues import (
    QueueMessage,
    Queues,
    chunks,
    dead_letter_message,
    message_size,
    retry_message,
)
from richpanel_destination.limits import SQS_BATCH_BYTES
from richpanel_destination.richpanel.outcomes import Kind, Outcome
from richpanel_destination.settings import Settings


def message(key: int, size: int = 10) -> QueueMessage:
    return QueueMessage(key, False, "x" * size, {})


def test_groups_of_ten() -> None:
    groups = list(chunks([message(i) for i in range(23)], message_size))
    assert [len(g) for g in groups] == [10, 10, 3]
    assert [p.key for g in groups for p in g] == list(range(23))


def test_groups_stay_under_the_batch_byte_limit() -> None:
    big = SQS_BATCH_BYTES // 3 + 1  # two fit in a batch, three do not
    groups = list(chunks([message(i, big) for i in range(7)], message_size))
    assert [len(g) for g in groups] == [2, 2, 2, 1]


def test_retry_after_caps_at_900_seconds_of_delay() -> None:
    outcome = Outcome(Kind.RETRYABLE, "429", 429, retry_after=3600)
    assert retry_message(0, {"messageId": "m"}, outcome, 1).delay == 900
    assert retry_message(0, {}, Outcome(Kind.RETRYABLE, "x", retry_after=1.2), 1).delay == 2


class FakeSqs:
    def __init__(self, fail_ids: set[str] | None = None, raise_on: str | None = None) -> None:
        self.batches: list[tuple[str, list[dict[str, object]]]] = []
        self.fail_ids = fail_ids or set()
        self.raise_on = raise_on

    def send_message_batch(
        self, QueueUrl: str, Entries: list[dict[str, object]]
    ) -> dict[str, object]:
        if QueueUrl == self.raise_on:
            raise ConnectionError("SQS is down")
        self.batches.append((QueueUrl, Entries))
        failed = [
            {"Id": e["Id"], "Code": "InternalError"} for e in Entries if e["Id"] in self.fail_ids
        ]
        return {"Failed": failed}


SETTINGS = Settings(retry_queue_url="retry", dead_letter_queue_url="dlq")


def test_send_many_routes_by_queue_and_reports_exactly_what_failed() -> None:
    sqs = FakeSqs(fail_ids={"3"})
    queues = Queues(SETTINGS, sqs)
    out = Outcome(Kind.RETRYABLE, "503", 503)
    messages = [retry_message(i, {"messageId": f"m{i}"}, out, 1) for i in range(12)]
    messages.append(dead_letter_message(12, json.dumps({"event": {}}), "400", message_id="m12"))
    failed = queues.send_many(messages)
    assert failed == {3: "SQS refused: InternalError: "}
    assert [(url, len(entries)) for url, entries in sqs.batches] == [
        ("retry", 10),
        ("retry", 2),
        ("dlq", 1),
    ]


def test_an_unreachable_queue_fails_only_its_own_parcels() -> None:
    queues = Queues(SETTINGS, FakeSqs(raise_on="dlq"))
    out = Outcome(Kind.RETRYABLE, "503", 503)
    failed = queues.send_many([retry_message(0, {}, out, 1), dead_letter_message(1, "{}", "400")])
    assert list(failed) == [1]
    assert failed[1].startswith("SQS send failed: ConnectionError: SQS is down")


# ------------------------------------------------------------- SQS's character set (13.5)

# The characters SQS accepts in a message body and in string attributes (SQS Developer Guide).
SQS_ALLOWED = re.compile("[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")


def valid_for_sqs(message: QueueMessage) -> bool:
    texts = [message.body, *(a["StringValue"] for a in message.attrs.values())]
    return all(SQS_ALLOWED.fullmatch(text) for text in texts)


HOSTILE = {
    "type": "track",
    "messageId": "m\x01id\x7f",
    "userId": "u\ufffe",
    "event": "E\uffff",
    "properties": {"note": "tab\tnew\nline\x00nul \U0001f600"},
}


def test_queued_bodies_and_attributes_are_always_valid_for_sqs() -> None:
    outcome = Outcome(Kind.RETRYABLE, "Richpanel answered 503: \ufffe\x02", 503)
    message = retry_message(0, HOSTILE, outcome, attempt=1)
    assert valid_for_sqs(message)
    assert json.loads(message.body)["event"] == HOSTILE  # escaped, not changed
    dead = dead_letter_message(0, "poison \ud800 \uffff", "bad", message_id="m\x01")
    assert valid_for_sqs(dead)


def test_a_write_key_in_the_body_is_not_queued() -> None:
    event = {**HOSTILE, "writeKey": "sk-live-123456"}
    message = retry_message(0, event, Outcome(Kind.RETRYABLE, "x"), attempt=1)
    assert "writeKey" not in json.loads(message.body)["event"]
    assert "sk-live-123456" not in message.body


def test_parcels_carry_richpanel_status_as_a_number() -> None:
    retry = retry_message(0, {"messageId": "m"}, Outcome(Kind.RETRYABLE, "503", 503), 1)
    assert retry.attrs["richpanelStatus"] == {"DataType": "Number", "StringValue": "503"}
    timed_out = retry_message(0, {"messageId": "m"}, Outcome(Kind.RETRYABLE, "timed out"), 1)
    assert "richpanelStatus" not in timed_out.attrs  # no answer, no status
    dead = dead_letter_message(0, "{}", "Richpanel answered 400", message_id="m", status=400)
    assert dead.attrs["richpanelStatus"] == {"DataType": "Number", "StringValue": "400"}
    assert "richpanelStatus" not in dead_letter_message(0, "{}", "poison message: x").attrs


def test_parcels_leave_room_for_redriven_within_the_sqs_limit_of_10() -> None:
    """Every attribute set: a retry message has 6, a DLQ message 4; a redrive adds redriven."""
    outcome = Outcome(Kind.RETRYABLE, "429", 429, retry_after=5)
    retry = retry_message(0, {"messageId": "m", "type": "track"}, outcome, 1)
    assert sorted(retry.attrs) == sorted(
        ["messageId", "type", "attempt", "reason", "retryAfter", "richpanelStatus"]
    )
    dead = dead_letter_message(0, "{}", "400", message_id="m", attempt=2, status=400)
    assert sorted(dead.attrs) == sorted(["messageId", "attempt", "reason", "richpanelStatus"])
    assert max(len(retry.attrs), len(dead.attrs)) + len(["redriven"]) == 7 <= 10


def test_postpones_go_ten_to_a_call_and_failures_are_counted(mocked_aws: None) -> None:
    import boto3

    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="retry")["QueueUrl"]
    for n in range(23):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
    handles: list[str] = []
    while len(handles) < 23:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60)
        handles += [m["ReceiptHandle"] for m in got.get("Messages", [])]
    calls: list[int] = []
    sqs.meta.events.register(
        "before-parameter-build.sqs.ChangeMessageVisibilityBatch",
        lambda params, **_: calls.append(len(params["Entries"])),
    )
    queues = Queues(Settings(retry_queue_url=url), sqs)
    assert queues.postpone_many([(h, 600) for h in handles] + [("not-a-handle", 5)]) == 1
    assert calls == [10, 10, 4]
    hidden = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert hidden["ApproximateNumberOfMessagesNotVisible"] == "23"
