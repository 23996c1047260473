import json
from pathlib import Path

import pytest

from richpanel_destination.mapping.transform import MappingError, epoch_ms, lookup, to_richpanel

FIXTURES = sorted((Path(__file__).parents[2] / "fixtures" / "mapping").glob("*.json"))


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_fixture_maps_to_exact_call(path: Path) -> None:
    case = json.loads(path.read_text())
    assert to_richpanel(case["segment"]) == case["richpanel"]


def test_fixtures_exist() -> None:
    assert len(FIXTURES) >= 3


def test_anonymous_identify_is_rejected_with_reason() -> None:
    with pytest.raises(MappingError, match="identify requires userId"):
        to_richpanel({"type": "identify", "anonymousId": "a", "traits": {"email": "x@y.z"}})


def test_unsupported_type_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="does not take group"):
        to_richpanel({"type": "group", "userId": "u", "groupId": "g"})


def test_mapped_uid_wins_over_a_trait_named_uid() -> None:
    call = to_richpanel({"type": "identify", "userId": "real", "traits": {"uid": "spoof"}})
    assert call["userProperties"]["uid"] == "real"


def test_camel_case_trait_wins_over_snake_case() -> None:
    call = to_richpanel(
        {"type": "identify", "userId": "u", "traits": {"firstName": "A", "first_name": "B"}}
    )
    assert call["userProperties"]["firstName"] == "A"


def test_timestamp_falls_back_to_original_timestamp() -> None:
    call = to_richpanel(
        {"type": "track", "userId": "u", "event": "E", "originalTimestamp": "2026-01-01T00:00:00Z"}
    )
    assert call["time"] == {"originalTimestamp": 1767225600000}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01T00:00:00Z", 1767225600000),
        ("2026-01-01T00:00:00.5z", 1767225600500),
        ("2026-01-01T02:00:00+02:00", 1767225600000),
        ("2026-01-01 00:00:00", 1767225600000),
        ("2026-01-01", 1767225600000),
        ("not a date", None),
        (12, None),
    ],
)
def test_epoch_ms(text: object, expected: int | None) -> None:
    assert epoch_ms(text) == expected


def test_lookup_walks_dotted_paths_and_stops_at_non_objects() -> None:
    event = {"a": {"b": {"c": 1}}, "s": "x"}
    assert lookup(event, "a.b.c") == 1
    assert lookup(event, "s.c") is None
    assert lookup(event, "missing.path") is None


def test_order_products_that_are_not_a_list_give_no_items() -> None:
    event = {
        "type": "track",
        "event": "Order Completed",
        "userId": "u1",
        "properties": {"order_id": "o1", "total": 5, "products": 1},
    }
    properties = to_richpanel(event)["properties"]
    assert "items" not in properties
    assert properties["orderId"] == "o1" and properties["products"] == 1
