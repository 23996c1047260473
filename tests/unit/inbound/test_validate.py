import json

import pytest
from jsonschema import Draft7Validator

from richpanel_destination.inbound.validate import SCHEMA_DIR, validate_event, validator_for
from tests.unit.inbound.golden import golden_events


def pointers(event: object) -> list[str]:
    return [p.pointer for p in validate_event(event)]


def test_every_schema_is_valid_draft_07() -> None:
    for path in SCHEMA_DIR.glob("*.json"):
        schema = json.loads(path.read_text())
        assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
        Draft7Validator.check_schema(schema)


def test_validator_is_built_once_per_type() -> None:
    assert validator_for("track") is validator_for("track")


@pytest.mark.parametrize(
    "event",
    [
        {"type": "track", "userId": "u", "event": "E"},
        {"type": "track", "userId": None, "anonymousId": "a", "event": "E"},
        {"type": "identify", "userId": "u", "traits": {"email": "e"}, "extra": [1]},
        {"type": "page", "anonymousId": "a", "name": None, "category": None},
        {"type": "page", "userId": "u", "timestamp": "2026-11-28T09:14:10.123456+0100"},
        {"type": "group", "userId": "u", "groupId": "g"},
        {"type": "alias", "userId": "u", "previousId": "p"},
    ],
)
def test_valid_events(event: dict[str, object]) -> None:
    assert validate_event(event) == []


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"type": "track", "event": "E"}, [""]),
        ({"type": "track", "userId": "", "anonymousId": None, "event": "E"}, [""]),
        ({"type": "track", "userId": "u"}, ["/event"]),
        ({"type": "track", "userId": "u", "event": ""}, ["/event"]),
        ({"type": "track", "userId": "u", "event": "E", "messageId": "x" * 101}, ["/messageId"]),
        ({"type": "track", "userId": "u", "event": "E", "timestamp": "yesterday"}, ["/timestamp"]),
        ({"type": "identify", "userId": "u", "traits": []}, ["/traits"]),
        ({"type": "group", "userId": "u"}, ["/groupId"]),
        ({"type": "alias", "userId": "u"}, ["/previousId"]),
        ({"userId": "u"}, ["/type"]),
        ({"type": "launch", "userId": "u"}, ["/type"]),
        (["not", "an", "object"], [""]),
    ],
)
def test_invalid_events_name_the_pointer(event: object, expected: list[str]) -> None:
    assert pointers(event) == expected


def test_messages_name_the_rule_without_echoing_values() -> None:
    problems = validate_event(
        {"type": "track", "anonymousId": "a", "event": "E", "messageId": "secret@example.com" * 9}
    )
    assert [p.as_dict() for p in problems] == [
        {"path": "/messageId", "message": "messageId must be at most 100 characters"}
    ]


def test_missing_id_message() -> None:
    (problem,) = validate_event({"type": "track", "event": "E"})
    assert problem.message == "userId or anonymousId must be a non-empty string"


def test_delete_calls_validate_so_they_can_be_skipped() -> None:
    assert validate_event({"type": "delete", "userId": "u", "messageId": "m"}) == []


@pytest.mark.parametrize(
    "stamp", ["2024-02-30T10:00:00Z", "2024-01-01T25:00:00Z", "2024-13-01", "2024-01-01T10:61"]
)
def test_impossible_timestamps_are_rejected(stamp: str) -> None:
    problems = validate_event({"type": "track", "userId": "u", "event": "E", "timestamp": stamp})
    assert [p.as_dict() for p in problems] == [
        {"path": "/timestamp", "message": "timestamp is not an ISO-8601 timestamp"}
    ]


GOLDEN_EVENTS = golden_events()


def test_there_are_golden_events_to_compare() -> None:
    assert len(GOLDEN_EVENTS) > 80


@pytest.mark.parametrize("event", GOLDEN_EVENTS)
def test_fast_check_and_jsonschema_agree(event: dict[str, object]) -> None:
    import fastjsonschema

    from richpanel_destination.inbound.validate import fast_check_for

    fast = fast_check_for(str(event["type"]))
    detailed = validator_for(str(event["type"]))
    if fast is None or detailed is None:
        assert fast is detailed
        return
    try:
        fast(event)
        fast_valid = True
    except fastjsonschema.JsonSchemaValueException:
        fast_valid = False
    assert fast_valid == detailed.is_valid(event)


# ------------------------------------------ issue 13, point 8: messages never echo the value


def test_an_unknown_call_type_is_not_echoed() -> None:
    (problem,) = validate_event({"type": "Janeth Roewood", "userId": "u"})
    assert problem.as_dict() == {
        "path": "/type",
        "message": "Unknown call type; type must be one of "
        "alias, delete, group, identify, page, screen, track",
    }


def test_a_rule_without_its_own_message_does_not_echo_the_value() -> None:
    from richpanel_destination.inbound.validate import _problem

    schema = {"properties": {"traits": {"properties": {"tags": {"minItems": 2}}}}}
    (error,) = Draft7Validator(schema).iter_errors({"traits": {"tags": ["Janeth Roewood"]}})
    assert _problem(error).as_dict() == {
        "path": "/traits/tags",
        "message": "traits/tags does not meet the schema's minItems rule",
    }


def test_the_call_types_are_those_with_a_schema() -> None:
    from richpanel_destination.calls import CALL_TYPES
    from richpanel_destination.inbound.validate import CALL_TYPES as WITH_SCHEMA

    assert set(CALL_TYPES) == WITH_SCHEMA
