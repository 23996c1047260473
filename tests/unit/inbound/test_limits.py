import pytest

from richpanel_destination.inbound.limits import (
    MAX_BATCH_EVENTS,
    MAX_EVENT_BYTES,
    MAX_REQUEST_BYTES,
    LimitExceeded,
    check_events,
    check_request_size,
)


def event_of_size(size: int) -> dict[str, str]:
    base = len('{"type":"track","p":""}')
    return {"type": "track", "p": "x" * (size - base)}


def test_request_at_the_limit_passes_one_byte_over_fails() -> None:
    check_request_size(MAX_REQUEST_BYTES)
    with pytest.raises(LimitExceeded) as caught:
        check_request_size(MAX_REQUEST_BYTES + 1)
    assert str(caught.value) == (
        "Request body is 512001 bytes; the limit is 500 KB (512000 bytes) per request"
    )


def test_event_at_the_limit_passes_one_byte_over_fails() -> None:
    check_events([event_of_size(MAX_EVENT_BYTES)], MAX_EVENT_BYTES + 100)
    with pytest.raises(LimitExceeded) as caught:
        check_events([{"type": "t"}, event_of_size(MAX_EVENT_BYTES + 1)], 40_000)
    assert str(caught.value) == (
        "Event 1 is 32769 bytes; the limit is 32 KB (32768 bytes) per event"
    )


def test_event_size_counts_utf8_bytes() -> None:
    event = {"type": "track", "p": "é" * 17_000}  # 34,000 bytes, 17,000 characters
    with pytest.raises(LimitExceeded, match=r"^Event 0 is 34"):
        check_events([event], 40_000)


def test_batch_count_limit() -> None:
    check_events([{}] * MAX_BATCH_EVENTS, 10)
    with pytest.raises(LimitExceeded) as caught:
        check_events([{}] * (MAX_BATCH_EVENTS + 1), 10)
    assert str(caught.value) == "Batch has 2501 events; the limit is 2500 events per batch"
