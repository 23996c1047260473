import json

from richpanel_destination.observability.redact import PAYLOAD_LIMIT, Redactor, digest

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


def test_payload_preview_is_truncated() -> None:
    text = Redactor().payload({"blob": "x" * 5000})
    assert len(text) == PAYLOAD_LIMIT + len("…(truncated)")


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
