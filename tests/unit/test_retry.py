import json
import random
from typing import Any

import pytest

from richpanel_destination.delivery.queues import envelope
from richpanel_destination.delivery.results import Fate
from richpanel_destination.retry import RetryLater, retry_once
from richpanel_destination.richpanel.outcomes import Kind, Outcome
from richpanel_destination.settings import Settings

from .delivery.fakes import CREDENTIALS, FakeClient, FakeQueues

SETTINGS = Settings(backoff_base=10, backoff_cap=900, max_receive_count=5)
TRACK = {"type": "track", "messageId": "m1", "userId": "u", "event": "E"}
BODY = envelope(TRACK, 1, "Richpanel answered 503")


def attempt(body: str, client: FakeClient, queues: FakeQueues, receive_count: int = 1) -> Any:
    return retry_once(
        body,
        "rh-1",
        receive_count,
        client=client,  # type: ignore[arg-type]
        queues=queues,  # type: ignore[arg-type]
        settings=SETTINGS,
        credentials=CREDENTIALS,
        rng=random.Random(0),
    )


def test_delivered_on_retry() -> None:
    client = FakeClient(Outcome(Kind.DELIVERED, "ok", 200))
    done = attempt(BODY, client, FakeQueues(), receive_count=2)
    assert (done.fate, done.message_id, done.attempt) == (Fate.DELIVERED, "m1", 3)
    assert client.calls[0]["userProperties"]["uid"] == "u"


def test_retryable_postpones_by_retry_after_and_raises() -> None:
    queues = FakeQueues()
    with pytest.raises(RetryLater) as caught:
        attempt(BODY, FakeClient(Outcome(Kind.RETRYABLE, "503", 503, retry_after=60)), queues)
    assert queues.postponed == [("rh-1", 60)]
    assert (caught.value.delay, caught.value.attempt) == (60, 2)


def test_backoff_grows_with_the_receive_count() -> None:
    ceilings = []
    for receive_count in (1, 2, 3, 4):
        queues = FakeQueues()
        delays = set()
        for seed in range(40):
            with pytest.raises(RetryLater):
                retry_once(
                    BODY,
                    "rh",
                    receive_count,
                    client=FakeClient(Outcome(Kind.RETRYABLE, "503", 503)),  # type: ignore[arg-type]
                    queues=queues,  # type: ignore[arg-type]
                    settings=SETTINGS,
                    credentials=CREDENTIALS,
                    rng=random.Random(seed),
                )
        delays = {seconds for _, seconds in queues.postponed}
        ceilings.append(max(delays))
    assert ceilings == sorted(ceilings)
    assert ceilings[-1] <= 80


def test_permanent_goes_to_dlq_with_reason() -> None:
    queues = FakeQueues()
    done = attempt(BODY, FakeClient(Outcome(Kind.PERMANENT, "Richpanel answered 400", 400)), queues)
    assert done.fate is Fate.DEAD_LETTERED
    body, reason, message_id = queues.dead[0]
    assert (reason, message_id) == ("Richpanel answered 400", "m1")
    assert json.loads(body)["attempt"] == 2


def test_last_receive_dead_letters_with_the_last_reason() -> None:
    queues = FakeQueues()
    done = attempt(
        BODY, FakeClient(Outcome(Kind.RETRYABLE, "Richpanel answered 503", 503)), queues, 5
    )
    assert done.fate is Fate.DEAD_LETTERED
    assert queues.dead[0][1] == "gave up after 6 attempts: Richpanel answered 503"
    assert queues.postponed == []


def test_duplicate_is_acknowledged() -> None:
    queues = FakeQueues()
    done = attempt(BODY, FakeClient(Outcome(Kind.DUPLICATE, "already delivered", 200)), queues)
    assert done.fate is Fate.DUPLICATE
    assert queues.dead == []


@pytest.mark.parametrize("body", ["not json", "[]", '{"event": "x"}'])
def test_poison_message_goes_to_dlq_untouched(body: str) -> None:
    queues = FakeQueues()
    client = FakeClient(Outcome(Kind.DELIVERED, "ok", 200))
    done = attempt(body, client, queues)
    assert done.fate is Fate.DEAD_LETTERED
    assert queues.dead[0][0] == body
    assert queues.dead[0][1].startswith("poison message")
    assert client.calls == []


# ------------------------------------------------------------------ poison (13.6)


def test_a_body_with_a_lone_surrogate_is_dead_lettered_as_poison_not_retried() -> None:
    queues = FakeQueues()
    client = FakeClient(Outcome(Kind.DELIVERED, "ok", 200))
    body = '{"v":1,"event":{"type":"track","messageId":"m1","userId":"u","event":"\\ud800"}}'
    done = attempt(body, client, queues)
    assert done.fate is Fate.DEAD_LETTERED
    assert done.reason is not None
    assert done.reason.startswith("poison message: event cannot be encoded as UTF-8")
    assert client.calls == [] and queues.postponed == []


def test_the_retry_path_validates_what_it_reads_as_ingest_does() -> None:
    queues = FakeQueues()
    client = FakeClient(Outcome(Kind.DELIVERED, "ok", 200))
    event = {"type": "track", "messageId": "m1", "userId": ["u"], "event": {"name": "E"}}
    done = attempt(envelope(event, 1, "Richpanel answered 503"), client, queues)
    assert done.fate is Fate.DEAD_LETTERED
    assert done.reason is not None and done.reason.startswith(
        "poison message: invalid Segment call"
    )
    assert "/userId" in done.reason and "/event" in done.reason
    assert client.calls == []  # never sent to Richpanel


def test_dead_lettering_a_poison_body_keeps_it_valid_for_sqs() -> None:
    from richpanel_destination.delivery.queues import dead_letter_message

    sent: list[Any] = []

    class Recording(FakeQueues):
        def to_dead_letter(self, body: str, reason: str, **kw: Any) -> None:
            sent.append(dead_letter_message(0, body, reason, **kw))

    body = "not json \ud800"
    done = attempt(body, FakeClient(Outcome(Kind.DELIVERED, "ok", 200)), Recording())
    assert done.fate is Fate.DEAD_LETTERED
    (message,) = sent
    message.body.encode("utf-8")  # would raise for the lone surrogate
    assert message.body == "not json \\ud800"


def test_an_event_in_flight_elsewhere_is_retried_later() -> None:
    queues = FakeQueues()
    in_flight = Outcome(Kind.IN_FLIGHT, "already being delivered by another invocation")
    with pytest.raises(RetryLater):
        attempt(BODY, FakeClient(in_flight), queues)
    assert queues.dead == [] and len(queues.postponed) == 1
