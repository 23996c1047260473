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


# ------------------------------------------------------------ freshest data wins on retry

IDENTIFY = {
    "type": "identify",
    "messageId": "m-old",
    "userId": "u-1",
    "timestamp": "2026-12-01T09:00:00Z",
    "traits": {"email": "old@example.com", "plan": "silver"},
}
NINE, TEN = 1_796_115_600_000, 1_796_119_200_000  # 2026-12-01 09:00 and 10:00 UTC, epoch ms


@pytest.fixture
def marks(marks_table: str) -> Any:
    """A freshness guard on moto, with u-1's email last delivered at 10:00 by m-new."""
    from richpanel_destination.delivery.freshness import Freshness

    guard = Freshness(marks_table, 3600)
    newer = {"userProperties": {"uid": "u-1", "email": "new@example.com"}}
    sent = guard.send({"type": "identify"}, TEN, "m-new", newer, FakeClient(OK_200).send)
    assert sent.kind is Kind.DELIVERED
    return guard


OK_200 = Outcome(Kind.DELIVERED, "ok", 200)


def retry_with(guard: Any, body: str, client: FakeClient, queues: FakeQueues) -> Any:
    return retry_once(
        body,
        "rh-1",
        1,
        client=client,  # type: ignore[arg-type]
        queues=queues,  # type: ignore[arg-type]
        settings=SETTINGS,
        credentials=CREDENTIALS,
        freshness=guard,
        rng=random.Random(0),
    )


def test_a_late_retry_sends_only_the_fields_richpanel_has_no_newer_value_for(marks: Any) -> None:
    client = FakeClient(OK_200)
    done = retry_with(marks, envelope(IDENTIFY, 1, "503", NINE), client, FakeQueues())
    assert done.fate is Fate.DELIVERED
    assert client.calls[-1]["userProperties"] == {"uid": "u-1", "plan": "silver"}


def test_a_retry_with_nothing_newer_is_superseded_and_not_sent(marks: Any) -> None:
    only_email = IDENTIFY | {"traits": {"email": "old@example.com"}}
    client = FakeClient(OK_200)
    done = retry_with(marks, envelope(only_email, 1, "503", NINE), client, FakeQueues())
    assert (done.fate, client.calls) == (Fate.SUPERSEDED, [])
    assert done.reason == (
        "Richpanel has newer data from 2026-12-01T10:00:00.000+00:00 (messageId m-new)"
    )


def test_the_envelope_time_wins_over_the_events_own_timestamp(marks: Any) -> None:
    """Ingest judged the event (clamped to its receipt); later attempts use that time."""
    future = IDENTIFY | {"timestamp": "2030-01-01T00:00:00Z", "traits": {"email": "x@y.z"}}
    client = FakeClient(OK_200)
    done = retry_with(marks, envelope(future, 1, "503", NINE), client, FakeQueues())
    assert done.fate is Fate.SUPERSEDED


def test_an_envelope_without_event_time_is_judged_by_the_event_clamped_to_parking() -> None:
    from richpanel_destination.retry import read_envelope

    body = json.loads(envelope(IDENTIFY | {"timestamp": "2030-01-01T00:00:00Z"}, 1, "503"))
    body["parkedAt"] = "2026-12-01T10:00:00.000+00:00"
    assert read_envelope(json.dumps(body)) == (
        IDENTIFY | {"timestamp": "2030-01-01T00:00:00Z"}, TEN
    )  # fmt: skip
    assert read_envelope(envelope(IDENTIFY, 1, "503", NINE))[1] == NINE


def test_a_dead_letter_keeps_the_event_time() -> None:
    queues = FakeQueues()
    permanent = FakeClient(Outcome(Kind.PERMANENT, "Richpanel answered 400", 400))
    attempt(envelope(TRACK, 1, "503", NINE), permanent, queues)
    assert json.loads(queues.dead[0][0])["eventTime"] == NINE


# ------------------------------------------------- the retry window, by age (issue 17.3)

WINDOW = Settings(backoff_base=10, backoff_cap=3600, max_receive_count=150, retry_window=86_400)
NOW = 1_796_200_000_000  # epoch ms
HOUR_MS = 3_600_000
FAILING = Outcome(Kind.RETRYABLE, "Richpanel answered 503", 503)


def parked_at(ms: int | None) -> str:
    """BODY as parked at ``ms`` (None: an envelope without parkedAt)."""
    from datetime import UTC, datetime

    body = json.loads(BODY)
    if ms is None:
        del body["parkedAt"]
    else:
        body["parkedAt"] = datetime.fromtimestamp(ms / 1000, UTC).isoformat()
    return json.dumps(body)


class Ceiling(random.Random):
    """uniform() returns the upper bound: the longest wait the backoff allows."""

    def uniform(self, a: float, b: float) -> float:
        return b


def aged(
    queues: FakeQueues,
    sent_ms: int | None,
    *,
    body: str = BODY,
    receive_count: int = 30,
    outcome: Outcome = FAILING,
    settings: Settings = WINDOW,
    rng: random.Random | None = None,
    now_ms: int = NOW,
    time_left: Any = None,
) -> Any:
    return retry_once(
        body,
        "rh-1",
        receive_count,
        client=FakeClient(outcome),  # type: ignore[arg-type]
        queues=queues,  # type: ignore[arg-type]
        settings=settings,
        credentials=CREDENTIALS,
        time_left=time_left,
        rng=rng or random.Random(0),
        sent_ms=sent_ms,
        now_ms=now_ms,
    )


def test_inside_the_window_a_retryable_failure_is_postponed() -> None:
    queues = FakeQueues()
    with pytest.raises(RetryLater) as caught:
        aged(queues, NOW - 23 * HOUR_MS)  # 30 receives, 23 h: neither limit binds
    assert queues.dead == [] and queues.postponed == [("rh-1", caught.value.delay)]
    assert 0 <= caught.value.delay <= 3600 and caught.value.attempt == 31


def test_past_the_window_a_retryable_failure_is_dead_lettered_with_the_window_reason() -> None:
    queues = FakeQueues()
    done = aged(queues, NOW - 24 * HOUR_MS - 1000)
    assert (done.fate, done.attempt, done.status) == (Fate.DEAD_LETTERED, 31, 503)
    body, reason, message_id = queues.dead[0]
    assert reason == "gave up after 24 h (31 attempts): Richpanel answered 503"
    assert message_id == "m1" and json.loads(body)["attempt"] == 31
    assert queues.postponed == []


def test_the_window_ends_exactly_at_its_length() -> None:
    queues = FakeQueues()
    assert aged(queues, NOW - 24 * HOUR_MS).fate is Fate.DEAD_LETTERED


def test_a_permanent_failure_past_the_window_keeps_its_own_reason() -> None:
    queues = FakeQueues()
    rejected = Outcome(Kind.PERMANENT, "Richpanel answered 400", 400)
    aged(queues, NOW - 48 * HOUR_MS, outcome=rejected)
    assert queues.dead[0][1] == "Richpanel answered 400"


def test_delivered_past_the_window_is_delivered() -> None:
    done = aged(FakeQueues(), NOW - 48 * HOUR_MS, outcome=Outcome(Kind.DELIVERED, "ok", 200))
    assert done.fate is Fate.DELIVERED


def test_sent_timestamp_wins_over_parked_at() -> None:
    """A redrive sends a new message: its SentTimestamp starts the window again."""
    queues = FakeQueues()
    with pytest.raises(RetryLater):  # parked two days ago, redriven an hour ago
        aged(queues, NOW - HOUR_MS, body=parked_at(NOW - 48 * HOUR_MS))
    assert queues.dead == []
    done = aged(FakeQueues(), NOW - 25 * HOUR_MS, body=parked_at(NOW - HOUR_MS))
    assert done.fate is Fate.DEAD_LETTERED


def test_parked_at_is_the_fallback_without_a_sent_timestamp() -> None:
    with pytest.raises(RetryLater):
        aged(FakeQueues(), None, body=parked_at(NOW - 23 * HOUR_MS))
    queues = FakeQueues()
    done = aged(queues, None, body=parked_at(NOW - 25 * HOUR_MS))
    assert done.fate is Fate.DEAD_LETTERED
    assert queues.dead[0][1].startswith("gave up after 24 h (31 attempts)")


def test_without_any_time_only_the_backstop_applies() -> None:
    queues = FakeQueues()
    with pytest.raises(RetryLater):
        aged(queues, None, body=parked_at(None))
    assert queues.dead == []


def test_a_zero_window_is_no_window() -> None:
    unlimited = Settings(backoff_base=10, backoff_cap=3600, max_receive_count=150, retry_window=0)
    with pytest.raises(RetryLater):
        aged(FakeQueues(), NOW - 400 * HOUR_MS, settings=unlimited)


@pytest.mark.parametrize(
    ("age_ms", "retry_after", "expected"),
    [
        (24 * HOUR_MS - 100_000, None, 100),  # the 1 h the backoff drew ends at the window
        (24 * HOUR_MS - 100_000, 7200, 100),  # so does a longer Retry-After
        (24 * HOUR_MS - 400, None, 1),  # rounded up: the next attempt is past the end
        (20 * HOUR_MS, None, 3600),  # far from the end: the backoff as drawn
    ],
)
def test_a_wait_never_reaches_past_the_windows_end(
    age_ms: int, retry_after: int | None, expected: int
) -> None:
    queues = FakeQueues()
    failing = Outcome(Kind.RETRYABLE, "Richpanel answered 429", 429, retry_after=retry_after)
    with pytest.raises(RetryLater) as caught:
        aged(queues, NOW - age_ms, outcome=failing, rng=Ceiling())
    assert caught.value.delay == expected and queues.postponed == [("rh-1", expected)]


def test_the_clamped_wait_makes_the_next_attempt_the_last() -> None:
    """Attempt, wait as told, attempt again: the second is at the window's end and gives up."""
    sent, now, queues = NOW - 24 * HOUR_MS, NOW - 100_000, FakeQueues()
    with pytest.raises(RetryLater) as caught:
        aged(queues, sent, receive_count=40, rng=Ceiling(), now_ms=now)
    later = now + caught.value.delay * 1000
    done = aged(queues, sent, receive_count=41, rng=Ceiling(), now_ms=later)
    assert done.fate is Fate.DEAD_LETTERED
    assert later - sent == 24 * HOUR_MS  # at the end, not an hour after it


def test_the_receive_count_backstop_still_dead_letters_inside_the_window() -> None:
    queues = FakeQueues()
    done = aged(queues, NOW - HOUR_MS, receive_count=150)
    assert done.fate is Fate.DEAD_LETTERED
    assert queues.dead[0][1] == "gave up after 151 attempts: Richpanel answered 503"


def test_not_sent_for_lack_of_time_goes_back_at_once_even_past_the_window() -> None:
    """Not an attempt: the next receive tries Richpanel (and gives up if it fails)."""
    queues = FakeQueues()
    with pytest.raises(RetryLater) as caught:
        aged(queues, NOW - 48 * HOUR_MS, time_left=lambda: None)
    assert caught.value.delay == 0 and queues.dead == []


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(86_400, "24 h"), (3600, "1 h"), (5400, "90 min"), (60, "1 min"), (45, "45 s")],
)
def test_the_window_in_a_reason(seconds: int, text: str) -> None:
    from richpanel_destination.retry import duration

    assert duration(seconds) == text


def test_a_receive_held_back_by_the_breaker_does_not_count_towards_the_backstop() -> None:
    """On the last allowed receive, an event the breaker holds back is postponed, not given up:
    it was not tried (the age window still bounds it)."""

    class Open(FakeClient):
        def held(self) -> Outcome | None:
            return Outcome(Kind.RETRYABLE, "not sent: Richpanel circuit open", retry_after=7,
                           held=True)  # fmt: skip

    queues = FakeQueues()
    client = Open(Outcome(Kind.DELIVERED, "ok", 200))
    with pytest.raises(RetryLater) as caught:
        attempt(BODY, client, queues, receive_count=SETTINGS.max_receive_count)
    assert queues.dead == [] and client.calls == [] and caught.value.delay >= 7
