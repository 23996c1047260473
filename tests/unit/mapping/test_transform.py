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


def _order(**properties: object) -> dict[str, object]:
    return {
        "type": "track",
        "event": "Order Completed",
        "userId": "u1",
        "properties": {"order_id": "o1", **properties},
    }


def test_numeric_strings_become_numbers_in_amounts_and_items() -> None:
    event = _order(
        total="30.00",
        discount="2.5",
        products=[{"product_id": "p1", "price": "19.99", "quantity": "2"}],
    )
    properties = to_richpanel(event)["properties"]
    assert properties["amount"] == 30.0 and isinstance(properties["amount"], float)
    assert properties["discountAmount"] == 2.5
    item = properties["items"][0]
    assert item["price"] == 19.99 and isinstance(item["price"], float)
    assert item["quantity"] == 2 and type(item["quantity"]) is int
    assert properties["total"] == "30.00"  # the original properties still ride along as sent


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30", 30),
        ("-3", -3),
        ("+3", 3),
        ("007", 7),
        ("30.00", 30.0),
        ("-0.5", -0.5),
        ("1e3", 1000.0),
        ("2.5E-1", 0.25),
        pytest.param("1" * 300, int("1" * 300), id="300-digits"),
    ],
)
def test_numeric_string_grammar_accepts(text: str, expected: float) -> None:
    amount = to_richpanel(_order(total=text))["properties"]["amount"]
    assert amount == expected and type(amount) is type(expected)


@pytest.mark.parametrize(
    "value",
    [
        *["abc", "$30", "30 USD", "1,234.50", "1 234", " 30", "30 ", "30\n", "1_000", ".5"],
        *["30.", "+", "-", "e5", "1e", "0x1F", "inf", "-Infinity", "NaN", "\u0663\u0660"],
        *["\uff13\uff10", "1e400", "-1e309", True, False, {"a": 1}, [30], float("inf")],
        float("nan"),
        pytest.param("3" * 5000, id="5000-digits"),
        pytest.param(10**400, id="int-beyond-double"),
    ],
)
def test_amount_that_is_not_a_number_is_refused_with_its_path(value: object) -> None:
    with pytest.raises(MappingError) as refused:
        to_richpanel(_order(total=value))
    assert refused.value.path == "/properties/total"
    assert "properties/total" in str(refused.value)
    assert "number" in str(refused.value)
    if isinstance(value, str) and len(value.strip()) > 1:
        assert value.strip() not in str(refused.value)  # the message never echoes the value


@pytest.mark.parametrize(
    ("properties", "path"),
    [
        ({"revenue": "ten"}, "/properties/revenue"),
        ({"value": "ten"}, "/properties/value"),
        ({"total": 5, "discount": "ten"}, "/properties/discount"),
        ({"products": [{"price": 1}, {"price": "ten"}]}, "/properties/products/1/price"),
        ({"products": ["skip", {"quantity": [2]}]}, "/properties/products/1/quantity"),
    ],
)
def test_each_amount_field_is_refused_at_its_own_path(
    properties: dict[str, object], path: str
) -> None:
    with pytest.raises(MappingError) as refused:
        to_richpanel(_order(**properties))
    assert refused.value.path == path
    assert str(refused.value).startswith(path[1:])


def test_an_empty_amount_falls_through_to_the_next_source() -> None:
    assert to_richpanel(_order(total="", revenue="12"))["properties"]["amount"] == 12


@pytest.mark.parametrize(
    ("order_id", "expected"),
    [
        (1e16, "10000000000000000"),
        (30.0, "30"),
        (-0.0, "0"),
        (1e23, "1" + "0" * 23),
        (42, "42"),
        (1.5, "1.5"),
        ("A-1", "A-1"),
    ],
)
def test_ids_render_integral_numbers_as_integers(order_id: object, expected: str) -> None:
    event = _order(products=[{"product_id": order_id}])
    event["properties"]["order_id"] = order_id  # type: ignore[index]
    properties = to_richpanel(event)["properties"]
    assert properties["orderId"] == properties["orderDbKey"] == expected
    assert properties["items"] == [{"id": expected, "product_id": expected}]  # both names


@pytest.mark.parametrize("call_type", ["track", "page", "screen"])
def test_a_visitors_call_carries_no_email(call_type: str) -> None:
    event: dict[str, object] = {
        "type": call_type,
        "event": "Newsletter Signup",
        "anonymousId": "anon-1",
        "properties": {"email": "typed@example.com", "list": "weekly"},
        "context": {"traits": {"email": "form@example.com"}},
    }
    call = to_richpanel(event)
    assert "email" not in call["properties"] and "email" not in call["userProperties"]
    assert call["properties"]["list"] == "weekly"
    assert "typed@example.com" not in json.dumps(call)


def test_a_visitors_order_carries_no_email() -> None:
    event = {**_order(total=5, email="typed@example.com"), "userId": None, "anonymousId": "a"}
    call = to_richpanel(event)
    assert "email" not in call["properties"] and "email" not in call["userProperties"]


def test_a_known_users_track_keeps_the_email_in_properties() -> None:
    event = {
        "type": "track",
        "event": "Newsletter Signup",
        "userId": "u1",
        "properties": {"email": "typed@example.com"},
    }
    call = to_richpanel(event)
    assert call["properties"]["email"] == call["userProperties"]["email"] == "typed@example.com"


# ----------------------------------------------------- order field names (issue 15)

ORDER_UPDATED = {
    "type": "track",
    "event": "Order Updated",
    "userId": "u-1",
    "messageId": "m-1",
    "timestamp": "2024-03-15T12:34:56.789Z",
    "properties": {
        "order_id": 1001,
        "total": 30,
        "shipping": 5,
        "tax": 2.5,
        "discount": 1,
        "payment_method": "card",
        "shipping_method": "ups",
        "shipping_address": "1 Main St, Springfield",
        "products": [{"product_id": 7, "name": "Hat", "image_url": "https://x/h.png"}],
    },
}
CAMEL = {"orderId", "orderDbKey", "createdAt", "updatedAt", "discountAmount", "paymentMethod",
         "shippingMethod"}  # fmt: skip
SNAKE = {"order_db_key", "created_at", "updated_at", "discount_amount", "shipping_amount",
         "tax_amount"}  # fmt: skip


def test_order_calls_carry_the_plugins_snake_case_and_the_documented_camel_case() -> None:
    properties = to_richpanel(ORDER_UPDATED)["properties"]
    assert set(properties) >= CAMEL | SNAKE
    assert (properties["orderId"], properties["order_id"], properties["order_db_key"]) == (
        "1001",
        "1001",
        "1001",
    )
    assert properties["createdAt"] == properties["created_at"] == 1710506096789
    assert properties["updatedAt"] == properties["updated_at"] == 1710506096789
    assert (properties["shipping_amount"], properties["tax_amount"]) == (5, 2.5)
    assert properties["items"] == [
        {"id": "7", "product_id": "7", "name": "Hat", "imageUrl": "https://x/h.png",
         "image_url": "https://x/h.png"}
    ]  # fmt: skip


def test_the_order_fields_setting_chooses_the_names() -> None:
    documented = to_richpanel(ORDER_UPDATED, "documented")["properties"]
    assert set(documented) >= CAMEL and not (SNAKE & set(documented))
    assert set(documented["items"][0]) == {"id", "name", "imageUrl"}
    plugin = to_richpanel(ORDER_UPDATED, "plugin")["properties"]
    assert set(plugin) >= SNAKE and not (CAMEL & set(plugin))
    assert set(plugin["items"][0]) == {"id", "product_id", "name", "image_url"}


def test_a_completed_order_has_a_creation_date_but_no_update_date() -> None:
    completed = to_richpanel({**ORDER_UPDATED, "event": "Order Completed"})["properties"]
    assert completed["createdAt"] == completed["created_at"] == 1710506096789
    assert "updatedAt" not in completed and "updated_at" not in completed
