import base64
import json

import pytest

from richpanel_destination.inbound.decode import BadRequest, events_from_payload, parse_body


def test_parse_plain_and_base64_bodies() -> None:
    body = json.dumps({"a": 1})
    assert parse_body(body) == {"a": 1}
    assert parse_body(base64.b64encode(body.encode()).decode(), is_base64=True) == {"a": 1}


@pytest.mark.parametrize(
    ("body", "is_b64", "message"),
    [
        ("", False, "empty"),
        (None, False, "empty"),
        ("{nope", False, "not valid JSON"),
        ("%%%", True, "not valid base64"),
    ],
)
def test_bad_bodies_say_what_is_wrong(body: str | None, is_b64: bool, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        parse_body(body, is_base64=is_b64)


def test_single_call_takes_its_type_from_the_path() -> None:
    assert events_from_payload({"userId": "u", "event": "E"}, "track") == [
        {"userId": "u", "event": "E", "type": "track"}
    ]


def test_single_call_keeps_an_explicit_type() -> None:
    assert events_from_payload({"type": "page"}, "track") == [{"type": "page"}]


def test_batch_merges_top_level_context_and_integrations_into_items() -> None:
    payload = {
        "batch": [
            {"type": "track", "context": {"ip": "1.1.1.1"}},
            {"type": "page", "integrations": {"Richpanel": False}},
        ],
        "context": {"library": {"name": "x"}, "ip": "9.9.9.9"},
        "integrations": {"All": True},
    }
    first, second = events_from_payload(payload, "batch")
    assert first["context"] == {"library": {"name": "x"}, "ip": "1.1.1.1"}
    assert first["integrations"] == {"All": True}
    assert second["integrations"] == {"All": True, "Richpanel": False}


def test_batch_keeps_non_object_items_for_reporting() -> None:
    assert events_from_payload({"batch": [1]}, "batch") == [{"__invalid__": 1}]


@pytest.mark.parametrize("payload", [[], {"batch": {}}, {"events": []}, "x"])
def test_batch_shape_errors(payload: object) -> None:
    with pytest.raises(BadRequest, match="batch"):
        events_from_payload(payload, "batch")


def test_single_call_must_be_an_object() -> None:
    with pytest.raises(BadRequest, match="must be a JSON object"):
        events_from_payload([1, 2], "identify")
