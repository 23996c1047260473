import pytest

from richpanel_destination.limits import (
    API_GATEWAY_PAYLOAD_BYTES,
    LAMBDA_PAYLOAD_BYTES,
    TRACKING_API,
    WEBHOOK,
    LimitExceeded,
    Limits,
)

ROUTES = [TRACKING_API, WEBHOOK]


def event_of_size(size: int) -> dict[str, str]:
    base = len('{"type":"track","p":""}')
    return {"type": "track", "p": "x" * (size - base)}


def test_the_tracking_api_keeps_segments_limits() -> None:
    assert (TRACKING_API.request_bytes, TRACKING_API.batch_events, TRACKING_API.event_bytes) == (
        512_000,
        2_500,
        32_768,
    )


def test_the_webhook_route_takes_a_4000_event_actions_batch_within_lambdas_ceiling() -> None:
    assert WEBHOOK.batch_events == 4_000  # Webhooks (Actions)' largest batch size
    assert WEBHOOK.event_bytes == 32_768
    assert WEBHOOK.request_bytes >= 4_000 * 1_024  # 4,000 events of 1 KB
    # base64 (the API sends every body so) must leave room for the rest of the Lambda event
    base64_bytes = -(-WEBHOOK.request_bytes // 3) * 4
    assert base64_bytes + 300_000 < LAMBDA_PAYLOAD_BYTES
    assert WEBHOOK.request_bytes < API_GATEWAY_PAYLOAD_BYTES


def test_tracking_api_request_at_the_limit_passes_one_byte_over_fails() -> None:
    TRACKING_API.check_request_size(TRACKING_API.request_bytes)
    with pytest.raises(LimitExceeded) as caught:
        TRACKING_API.check_request_size(TRACKING_API.request_bytes + 1)
    assert str(caught.value) == (
        "Request body is 512001 bytes; the limit is 500 KB (512000 bytes) per request "
        "on the Tracking API routes"
    )


def test_webhook_request_at_the_limit_passes_one_byte_over_fails() -> None:
    WEBHOOK.check_request_size(WEBHOOK.request_bytes)
    with pytest.raises(LimitExceeded) as caught:
        WEBHOOK.check_request_size(WEBHOOK.request_bytes + 1)
    assert str(caught.value) == (
        "Request body is 4456449 bytes; the limit is 4.25 MiB (4456448 bytes) per request "
        "on the webhook route"
    )


@pytest.mark.parametrize("limits", ROUTES, ids=lambda limits: limits.name)
def test_event_at_the_limit_passes_one_byte_over_fails(limits: Limits) -> None:
    limits.check_events([event_of_size(limits.event_bytes)], limits.event_bytes + 100)
    with pytest.raises(LimitExceeded) as caught:
        limits.check_events([{"type": "t"}, event_of_size(limits.event_bytes + 1)], 40_000)
    assert str(caught.value) == (
        "Event 1 is 32769 bytes; the limit is 32 KB (32768 bytes) per event"
    )


def test_event_size_counts_utf8_bytes() -> None:
    event = {"type": "track", "p": "é" * 17_000}  # 34,000 bytes, 17,000 characters
    with pytest.raises(LimitExceeded, match=r"^Event 0 is 34"):
        TRACKING_API.check_events([event], 40_000)


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (
            TRACKING_API,
            "Batch has 2501 events; the limit is 2500 events per batch on the Tracking API routes",
        ),
        (WEBHOOK, "Batch has 4001 events; the limit is 4000 events per batch on the webhook route"),
    ],
    ids=["tracking-api", "webhook"],
)
def test_batch_count_limit(limits: Limits, message: str) -> None:
    limits.check_events([{}] * limits.batch_events, 10)
    with pytest.raises(LimitExceeded) as caught:
        limits.check_events([{}] * (limits.batch_events + 1), 10)
    assert str(caught.value) == message
