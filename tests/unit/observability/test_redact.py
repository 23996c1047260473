import json

from richpanel_destination.limits import PREVIEW_CHARS
from richpanel_destination.observability.redact import Redactor, digest

EVENT = {
    "type": "identify",
    "userId": "u-1",
    "traits": {
        "email": "jane@example.com",
        "phone": "+1 (555) 010-9999",
        "firstName": "Jane",
        "address": {"city": "Springfield"},
        "plan": "gold",
        "api_key": "sk_live_abcdef123456",
        "note": "call me at +44 20 7946 0958 or mail jane.doe@example.org",
    },
    "context": {"ip": "203.0.113.7"},
    "timestamp": "2026-11-28T10:00:00Z",
}


def test_personal_fields_are_hashed_and_secrets_removed() -> None:
    out = Redactor().value(EVENT)
    traits = out["traits"]
    assert traits["email"] == digest("jane@example.com")
    assert traits["phone"].startswith("hash:")
    assert traits["firstName"].startswith("hash:")
    assert traits["address"].startswith("hash:")
    assert traits["api_key"] == "[redacted]"
    assert traits["plan"] == "gold"
    assert out["context"]["ip"].startswith("hash:")
    assert out["timestamp"] == "2026-11-28T10:00:00Z"  # dates are not phone numbers
    assert "jane.doe@example.org" not in traits["note"]
    assert "7946" not in traits["note"]


def test_same_value_same_hash() -> None:
    assert digest("jane@example.com") == digest("jane@example.com") != digest("john@example.com")


def test_personal_data_in_clear_when_asked_but_never_secrets() -> None:
    out = Redactor(personal_in_clear=True).value(EVENT)
    assert out["traits"]["email"] == "jane@example.com"
    assert out["traits"]["api_key"] == "[redacted]"


def test_known_secret_values_vanish_from_any_text() -> None:
    redactor = Redactor()
    redactor.remember("wk-secret-123", "short")
    assert redactor.text("bad key wk-secret-123!") == "bad key [redacted]!"
    assert redactor.text("short") == "short"  # too short to match safely


def test_log_serializer_keeps_powertools_fields_and_scrubs_the_rest() -> None:
    redactor = Redactor()
    line = json.loads(
        redactor.serializer(
            {
                "level": "INFO",
                "timestamp": "2026-11-28 10:00:00,123+0000",
                "function_request_id": "1234-5678-9012",
                "message": "refused jane@example.com",
                "reason": "Richpanel answered 400: bad phone +1 555 010 9999",
                "payload": {"email": "jane@example.com"},
            }
        )
    )
    assert line["timestamp"] == "2026-11-28 10:00:00,123+0000"
    assert line["function_request_id"] == "1234-5678-9012"
    assert "jane@example.com" not in json.dumps(line)
    assert "555 010 9999" not in line["reason"]


# ------------------------------------------------ issue 13, point 8: previews keep only shape

JANETH = "Janeth Roewood"
AD_ID = "6D92078A-8246-4BA4-AE5B-76104861E7DC"
REJECTED = {
    "type": "identify",
    "messageId": "m-1",
    "anonymousId": "a-1",
    "userId": None,
    "timestamp": "2026-11-28T10:00:00Z",
    "sentAt": "call +1 415 555 0199",  # not a timestamp: shape only
    "traits": {
        "full_name": JANETH,
        "customer_name": JANETH,
        "age": 34,
        "vip": True,
        JANETH: {"since": 2019},  # a name as a key
    },
    "properties": {"shipping": {"line1": "12 Elm Street"}, "items": ["a", 2.5]},
    "context": {"device": {"advertisingId": AD_ID}, "location": {"latitude": 37.7749295}},
}


def test_a_rejected_event_preview_keeps_its_shape_and_only_safe_values() -> None:
    assert json.loads(Redactor().payload(REJECTED)) == {
        "type": "identify",
        "messageId": "m-1",
        "anonymousId": "a-1",
        "userId": None,
        "timestamp": "2026-11-28T10:00:00Z",
        "sentAt": "<string 20>",
        "traits": {
            "full_name": "<string 14>",
            "customer_name": "<string 14>",
            "age": "<integer>",
            "vip": "<boolean>",
            "<key 5>": {"since": "<integer>"},
        },
        "properties": {"shipping": {"line1": "<string 13>"}, "items": ["<string 1>", "<number>"]},
        "context": {
            "device": {"advertisingId": "<string 36>"},
            "location": {"latitude": "<number>"},
        },
    }


def test_a_rejected_event_preview_logs_no_personal_value() -> None:
    redactor = Redactor()
    line = redactor.serializer({"message": "event outcome", "payload": redactor.payload(REJECTED)})
    for planted in (JANETH, "Roewood", AD_ID, "12 Elm", "37.77", "415 555", "2019"):
        assert planted not in line, planted


def test_the_event_name_and_ids_are_kept_but_emails_and_phones_in_them_are_hashed() -> None:
    event = {"type": "track", "event": "Mailed jane@example.com", "userId": "jane@example.com"}
    preview = json.loads(Redactor().payload(event))
    assert preview == {
        "type": "track",
        "event": "Mailed " + digest("jane@example.com"),
        "userId": digest("jane@example.com"),
    }


def test_a_type_that_is_not_a_field_name_is_not_kept() -> None:
    assert json.loads(Redactor().payload({"type": JANETH}))["type"] == "<string 14>"


def test_personal_data_in_clear_shows_the_values_but_never_secrets() -> None:
    preview = json.loads(Redactor(personal_in_clear=True).payload(EVENT))
    assert preview["traits"]["firstName"] == "Jane"
    assert preview["traits"]["api_key"] == "[redacted]"
    assert preview["context"] == {"ip": "203.0.113.7"}


# ---------------------------------------- issue 13, point 9: ids searchable, JSON always valid


def test_numeric_ids_stay_searchable_in_log_lines_and_previews() -> None:
    redactor = Redactor()
    event = {"type": "track", "messageId": "1732787770250", "userId": "10004567", "event": "E"}
    line = json.loads(
        redactor.serializer(
            {
                "message": "event outcome",
                "messageId": event["messageId"],
                "userId": event["userId"],
                "payload": redactor.payload(event),
            }
        )
    )
    assert (line["messageId"], line["userId"]) == ("1732787770250", "10004567")
    preview = json.loads(line["payload"])
    assert (preview["messageId"], preview["userId"]) == ("1732787770250", "10004567")


def test_ids_that_are_emails_or_phone_numbers_are_hashed_whole() -> None:
    line = json.loads(
        Redactor().serializer({"userId": "jane@example.com", "messageId": "+1 415 555 0199"})
    )
    assert line == {"userId": digest("jane@example.com"), "messageId": digest("+1 415 555 0199")}


def test_a_logged_preview_is_valid_json_with_numbers_in_it() -> None:
    redactor = Redactor()
    event = {"type": "track", "properties": {"latitude": 37.7749295, "phone": 4155550199}}
    line = json.loads(redactor.serializer({"payload": redactor.payload(event)}))
    assert json.loads(line["payload"])["properties"] == {
        "latitude": "<number>",
        "phone": "<integer>",
    }


def test_a_long_preview_is_cut_to_valid_json() -> None:
    event = {"type": "track", "properties": {f"p{i}": {"a": [1, 2, 3]} for i in range(300)}}
    for redactor in (Redactor(), Redactor(personal_in_clear=True)):
        text = redactor.serializer({"payload": redactor.payload(event)})
        preview = json.loads(json.loads(text)["payload"])
        assert len(json.loads(text)["payload"]) <= PREVIEW_CHARS
        assert preview["type"] == "track"
        assert preview["properties"] == "<object 300 keys>"
