"""Deduplication on messageId against moto's in-process DynamoDB (a unit test: mocked AWS)."""

from typing import Any

import pytest

from richpanel_destination.delivery.dedupe import Deduplicator
from richpanel_destination.richpanel.outcomes import Kind, Outcome

OK = Outcome(Kind.DELIVERED, "Richpanel answered 200", 200)
DOWN = Outcome(Kind.RETRYABLE, "Richpanel answered 503", 503)


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


# ----------------------------------------------------------------------------- /bt batches


class Batches:
    """A send_batch double: the calls of each request, answered in turn (one answer each)."""

    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes)
        self.requests: list[list[Any]] = []

    def __call__(self, calls: Any) -> list[Outcome]:
        self.requests.append(list(calls))
        answer = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        return [answer] * len(calls)


def items(*ids: str | None) -> list[tuple[str | None, dict[str, Any]]]:
    return [(mid, {"event": f"e-{mid}"}) for mid in ids]


def test_batch_sends_claimed_items_once_and_a_resend_is_all_duplicates(table: str) -> None:
    send = Batches(OK)
    outcomes = Deduplicator(table, 3600).send_batch(items("a", "b", None), send)
    assert [o.kind for o in outcomes] == [Kind.DELIVERED] * 3
    again = Deduplicator(table, 3600).send_batch(items("a", "b"), send)  # another container
    assert [(o.kind, o.status) for o in again] == [(Kind.DUPLICATE, 200)] * 2
    assert send.requests == [[{"event": "e-a"}, {"event": "e-b"}, {"event": "e-None"}]]


def test_batch_and_single_calls_share_one_key_space(table: str) -> None:
    single = Counting(OK)
    dedupe = Deduplicator(table, 3600)
    assert dedupe.send("s1", {}, single).kind is Kind.DELIVERED
    send = Batches(OK)
    outcomes = Deduplicator(table, 3600).send_batch(items("s1", "n1"), send)
    assert [o.kind for o in outcomes] == [Kind.DUPLICATE, Kind.DELIVERED]
    assert send.requests == [[{"event": "e-n1"}]]  # the duplicate is left out of the request
    again = Deduplicator(table, 3600).send("n1", {}, single)  # delivered by the batch
    assert (again.kind, again.status) == (Kind.DUPLICATE, 200)
    assert single.sent == 1


@pytest.mark.parametrize("answer", [DOWN, Outcome(Kind.PERMANENT, "Richpanel answered 400", 400)])
def test_a_batch_not_delivered_leaves_no_records(table: str, answer: Outcome) -> None:
    send = Batches(answer, OK)
    dedupe = Deduplicator(table, 3600)
    assert dedupe.send_batch(items("f1", "f2"), send) == [answer, answer]
    assert [o.kind for o in dedupe.send_batch(items("f1", "f2"), send)] == [Kind.DELIVERED] * 2
    assert len(send.requests) == 2


def test_an_item_in_flight_is_left_out_of_the_batch(table: str) -> None:
    seen: list[Outcome] = []

    def slow_single(call: Any) -> Outcome:  # a batch arrives while the single call is on the wire
        seen.extend(Deduplicator(table, 3600).send_batch(items("busy", "free"), send))
        return OK

    send = Batches(OK)
    assert Deduplicator(table, 3600).send("busy", {}, slow_single).kind is Kind.DELIVERED
    assert [o.kind for o in seen] == [Kind.IN_FLIGHT, Kind.DELIVERED]
    assert send.requests == [[{"event": "e-free"}]]


def test_the_same_message_id_twice_in_a_batch_is_sent_once(table: str) -> None:
    send = Batches(OK)
    outcomes = Deduplicator(table, 3600).send_batch(items("x", "x"), send)
    assert [o.kind for o in outcomes] == [Kind.DELIVERED, Kind.IN_FLIGHT]
    assert send.requests == [[{"event": "e-x"}]]


def test_nothing_left_to_send_makes_no_request(table: str) -> None:
    Deduplicator(table, 3600).send_batch(items("d1"), Batches(OK))
    send = Batches(OK)
    assert [o.kind for o in Deduplicator(table, 3600).send_batch(items("d1"), send)] == [
        Kind.DUPLICATE
    ]
    assert send.requests == []


def test_a_store_failure_parks_the_item_instead_of_sending_it_unguarded(
    mocked_aws: None,
) -> None:
    send = Batches(OK)
    outcomes = Deduplicator("no-such-table", 3600).send_batch(items("u1", None), send)
    assert outcomes[0].kind is Kind.RETRYABLE
    assert outcomes[0].reason.startswith("idempotency store: ")
    assert outcomes[1].kind is Kind.DELIVERED
    assert send.requests == [[{"event": "e-None"}]]


def test_a_batch_refused_for_time_releases_its_claims(table: str) -> None:
    from richpanel_destination.delivery.dedupe import LATE

    Deduplicator(table, 3600).send_batch(items("done"), Batches(OK))
    dedupe = Deduplicator(table, 3600)
    outcomes = dedupe.send_batch(items("done", "l1"), Batches(LATE))  # too late to send
    assert [o.kind for o in outcomes] == [Kind.DUPLICATE, Kind.RETRYABLE]
    send = Batches(OK)
    assert [o.kind for o in dedupe.send_batch(items("done", "l1"), send)] == [
        Kind.DUPLICATE,
        Kind.DELIVERED,
    ]
    assert send.requests == [[{"event": "e-l1"}]]


def test_an_in_flight_claim_is_retried_when_its_holder_s_claim_would_have_ended(
    table: str,
) -> None:
    """The second copy is queued until the holder's claim settles or expires, not sooner."""

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 8_000

    holder = Deduplicator(table, 3600)
    holder.register_lambda_context(Context())
    seen: list[Outcome] = []

    def slow_send(call: Any) -> Outcome:
        seen.append(Deduplicator(table, 3600).send("m9", call, Counting(OK)))
        return OK

    holder.send("m9", {}, slow_send)
    (in_flight,) = seen
    assert in_flight.kind is Kind.IN_FLIGHT
    assert in_flight.retry_after == 5.0  # HELD_RETRY_SECONDS: sooner than the claim's 8 s
