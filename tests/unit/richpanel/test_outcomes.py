import json

import pytest
import requests

from richpanel_destination.observability.redact import digest
from richpanel_destination.richpanel.outcomes import (
    Kind,
    from_exception,
    from_response,
    parse_retry_after,
)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (200, Kind.DELIVERED),
        (202, Kind.DELIVERED),
        (204, Kind.DELIVERED),
        (408, Kind.RETRYABLE),
        (429, Kind.RETRYABLE),
        (500, Kind.RETRYABLE),
        (502, Kind.RETRYABLE),
        (503, Kind.RETRYABLE),
        (504, Kind.RETRYABLE),
        (400, Kind.PERMANENT),
        (401, Kind.PERMANENT),
        (403, Kind.PERMANENT),
        (404, Kind.PERMANENT),
        (409, Kind.PERMANENT),
        (413, Kind.PERMANENT),
        (301, Kind.PERMANENT),
    ],
)
def test_status_classification(status: int, kind: Kind) -> None:
    outcome = from_response(status, {})
    assert outcome.kind is kind
    assert outcome.status == status
    assert str(status) in outcome.reason


# ------------------------ issue 13, point 8: error bodies echo personal data; keep only codes


@pytest.mark.parametrize(
    "body",
    ['{"error": "uid is required"}', '{"error": "Invalid appClientId", "code": 400}'],
)
def test_a_short_plain_error_is_kept_whole(body: str) -> None:
    assert from_response(400, {}, body).reason == f"Richpanel answered 400: {body}"


def test_only_the_plain_fields_of_an_error_body_are_kept() -> None:
    body = json.dumps({"error": "uid is required", "customer": {"name": "Janeth Roewood"}})
    assert from_response(400, {}, body).reason == (
        'Richpanel answered 400: {"error": "uid is required"}, '
        f"body of {len(body)} characters not shown ({digest(body)})"
    )


@pytest.mark.parametrize(
    "body",
    [
        '{"error": "customer Janeth Roewood not found"}',
        '{"message": "bad email jane@example.com, phone +1 415 555 0199"}',
        '{"error": "uid 4155550199 is taken"}',
        '{"error": "' + "x" * 200 + '"}',
        '{"error": ["uid is required"]}',
        "<html><body>Janeth Roewood</body></html>",
        '{"error": "uid is required"}' + "x" * 500,
    ],
    ids=["name", "email-phone", "long-number", "long", "not-text", "html", "not-json"],
)
def test_an_error_body_that_may_hold_personal_data_is_not_kept(body: str) -> None:
    outcome = from_response(400, {}, body)
    assert outcome.reason == (
        f"Richpanel answered 400: body of {len(body)} characters not shown ({digest(body)})"
    )


def test_a_retryable_answer_keeps_its_status_first_and_no_body() -> None:
    outcome = from_response(503, {}, "Janeth Roewood")
    assert outcome.kind is Kind.RETRYABLE
    assert outcome.reason.startswith("Richpanel answered 503: body of 14 characters")
    assert "Janeth" not in outcome.reason
    assert from_response(400, {}).reason == "Richpanel answered 400"


def test_retry_after_seconds_on_429() -> None:
    assert from_response(429, {"Retry-After": "7"}).retry_after == 7.0


def test_retry_after_ignored_on_permanent() -> None:
    assert from_response(400, {"Retry-After": "7"}).retry_after is None


def test_retry_after_http_date() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0) == 30.0
    assert parse_retry_after("garbage") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    "exc", [requests.ConnectTimeout("c"), requests.ReadTimeout("r"), requests.ConnectionError("x")]
)
def test_transport_failures_are_retryable(exc: Exception) -> None:
    outcome = from_exception(exc)
    assert outcome.kind is Kind.RETRYABLE
    assert outcome.status is None
    assert type(exc).__name__ in outcome.reason
