"""richpanel_destination.canary: markers, arrival, configuration (no network)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from richpanel_destination import canary

RATE = 900.0
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_a_marker_carries_its_scheduled_time() -> None:
    marker = canary.new_marker(NOW)
    assert marker.startswith("2026-01-01T12:00:00Z-")
    assert canary.marker_time(marker) == NOW
    assert canary.marker_time("verify-something") is None
    assert canary.new_marker(NOW) != marker


@pytest.mark.parametrize(
    ("minutes_before", "arrived"),
    [(0, True), (15, True), (22, True), (23, False), (30, False), (-15, True)],
)
def test_arrived_means_the_previous_run_or_later(minutes_before: int, arrived: bool) -> None:
    seen = canary.new_marker(NOW - timedelta(minutes=minutes_before))
    assert canary.has_arrived(seen, NOW, RATE) is arrived


def test_nothing_seen_is_a_miss() -> None:
    assert not canary.has_arrived("", NOW, RATE)


def test_the_scheduled_time_is_the_events() -> None:
    assert canary.scheduled_time({"time": "2026-01-01T12:00:00Z"}) == NOW
    assert canary.scheduled_time({"time": "not a time"}, now=NOW) == NOW
    assert canary.scheduled_time({}, now=NOW) == NOW


def test_the_identify_is_unique_per_marker() -> None:
    event = canary.identify_event("m-1", 1_767_268_800_000)
    assert event["messageId"] == "canary-m-1"
    assert event["traits"][canary.MARKER_TRAIT] == "m-1"
    assert event["timestamp"] == "2026-01-01T12:00:00.000Z"


def test_configuration_comes_from_the_environment() -> None:
    env = {
        "CANARY_API_URL": "https://api.example/live/",
        "INBOUND_SECRET_ARN": "arn:in",
        "RICHPANEL_REST_SECRET_ARN": "arn:rest",
        "CANARY_RATE_MINUTES": "30",
    }
    config = canary.CanaryConfig.from_env(env)
    assert (config.api_url, config.rate_seconds) == ("https://api.example/live", 1800)
    with pytest.raises(canary.CanaryError, match="RICHPANEL_REST_SECRET_ARN"):
        canary.CanaryConfig.from_env({**env, "RICHPANEL_REST_SECRET_ARN": ""})


def test_traits_are_read_under_properties_or_at_the_top() -> None:
    assert (
        canary.trait({"properties": {"canaryMarker": "a"}, "canaryMarker": "b"}, "canaryMarker")
        == "a"
    )
    assert canary.trait({"canaryMarker": "b"}, "canaryMarker") == "b"
    assert canary.trait(None, "canaryMarker") is None
