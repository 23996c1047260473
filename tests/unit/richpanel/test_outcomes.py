import pytest
import requests

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


def test_reason_includes_truncated_body() -> None:
    outcome = from_response(400, {}, '{"error": "uid is required"}' + "x" * 500)
    assert outcome.reason.startswith('Richpanel answered 400: {"error": "uid is required"}')
    assert len(outcome.reason) < 260


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
