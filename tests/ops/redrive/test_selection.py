"""Selection (reason, Richpanel status) and the report of a redrive."""

from __future__ import annotations

import re

import pytest

from ops.redrive.selection import (
    NO_REASON,
    STATUS_ATTRIBUTE,
    Report,
    Selector,
    reason_of,
    status_attribute,
    status_of,
)
from richpanel_destination.delivery.queues import dead_letter_message, envelope, retry_message
from richpanel_destination.richpanel.outcomes import Kind, Outcome

from .helpers import GAVE_UP, POISON, REJECTED


@pytest.mark.parametrize(
    ("reason", "status"),
    [
        (REJECTED, 400),
        ("Richpanel answered 401", 401),
        (GAVE_UP, 503),
        (POISON, None),
        ("Richpanel answered 4001", None),
        ("ConnectTimeout: timed out", None),
        ("", None),
    ],
)
def test_status_of_reads_the_richpanel_status_from_a_reason(reason: str, status: int) -> None:
    assert status_of(reason) == status


def test_selector_by_status_and_regex() -> None:
    assert Selector().everything
    assert Selector(status=400).wants(REJECTED)
    assert not Selector(status=400).wants(GAVE_UP)
    assert Selector(status=503).wants(GAVE_UP)
    assert not Selector(status=400).wants(POISON)
    assert Selector(re.compile("^poison")).wants(POISON)
    assert not Selector(re.compile("^poison")).wants(REJECTED)
    both = Selector(re.compile("gave up"), 503)
    assert both.wants(GAVE_UP)
    assert not both.wants("Richpanel answered 503")
    assert str(both) == "reason matching /gave up/ and Richpanel status 503"


def test_reason_comes_from_the_attribute_else_the_envelope() -> None:
    body = envelope({"messageId": "m"}, 1, "from the body")
    attribute = {"reason": {"DataType": "String", "StringValue": "from the attribute"}}
    assert reason_of({"Body": body, "MessageAttributes": attribute}) == "from the attribute"
    assert reason_of({"Body": body}) == "from the body"
    assert reason_of({"Body": "{not json"}) == NO_REASON
    assert reason_of({"Body": "[1]"}) == NO_REASON


def test_status_attribute_is_what_park_writes() -> None:
    """The selection reads the attribute name delivery/queues.py writes, as a number."""
    message = dead_letter_message(0, "{}", REJECTED, status=400)
    assert message.attrs[STATUS_ATTRIBUTE] == {"DataType": "Number", "StringValue": "400"}
    assert status_attribute({"MessageAttributes": message.attrs}) == 400
    retry = retry_message(0, {}, Outcome(Kind.RETRYABLE, "Richpanel answered 503", 503), 1)
    assert status_attribute({"MessageAttributes": retry.attrs}) == 503
    assert (
        status_attribute({"MessageAttributes": dead_letter_message(0, "{}", POISON).attrs}) is None
    )
    assert status_attribute({}) is None
    odd = {STATUS_ATTRIBUTE: {"DataType": "String", "StringValue": "many"}}
    assert status_attribute({"MessageAttributes": odd}) is None


def test_selector_by_status_reads_the_attribute_before_the_reason() -> None:
    # the attribute decides when there is one, whatever the reason says
    assert Selector(status=400).wants("ConnectTimeout: timed out", 400)
    assert not Selector(status=400).wants(REJECTED, 503)
    # a message parked before the attribute existed: the reason's "Richpanel answered N"
    assert Selector(status=400).wants(REJECTED, None)
    assert not Selector(status=400).wants(POISON, None)
    # the regex still applies to the reason
    assert not Selector(re.compile("^poison"), 400).wants(REJECTED, 400)


def test_report_counts_by_reason_and_sums_up() -> None:
    report = Report()
    report.count(REJECTED, "moved", 2)
    report.count(GAVE_UP, "failed")
    report.count(POISON, "left")
    assert (report.moved, report.failed, report.left, report.ok) == (2, 1, 1, False)
    assert report.summary() == "moved 2, failed 1, left 1"
    assert report.table().splitlines()[1].split()[:3] == ["2", "0", "0"]
    for _ in range(7):
        report.error("same")
    report.error("other")
    assert report.errors == ["same", "other"]
