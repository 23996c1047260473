import base64
import gzip
import json

import pytest

from richpanel_destination.inbound.decode import (
    BadRequest,
    batch_events,
    body_bytes,
    parse_json,
    single_event,
    webhook_events,
)
from richpanel_destination.inbound.limits import LimitExceeded

BODY = json.dumps({"a": 1})


def decode(body: str | None, is_base64: bool = False, encoding: str | None = None) -> object:
    return parse_json(body_bytes(body, is_base64=is_base64, content_encoding=encoding))


def test_plain_base64_and_gzip_bodies() -> None:
    assert decode(BODY) == {"a": 1}
    assert decode(base64.b64encode(BODY.encode()).decode(), is_base64=True) == {"a": 1}
    gz = base64.b64encode(gzip.compress(BODY.encode())).decode()
    assert decode(gz, is_base64=True, encoding="gzip") == {"a": 1}
    assert decode(gz, is_base64=True, encoding=" GZIP ") == {"a": 1}


@pytest.mark.parametrize(
    ("body", "is_b64", "encoding", "message"),
    [
        ("", False, None, "Request body is empty; expected JSON"),
        (None, False, None, "Request body is empty; expected JSON"),
        ("%%%", True, None, "Request body is flagged base64 but is not valid base64"),
        (BODY, False, "br", "Content-Encoding 'br' is not supported; use gzip or none"),
    ],
)
def test_unreadable_bodies(
    body: str | None, is_b64: bool, encoding: str | None, message: str
) -> None:
    with pytest.raises(BadRequest) as caught:
        decode(body, is_b64, encoding)
    assert str(caught.value) == message


def test_invalid_json_names_the_position() -> None:
    with pytest.raises(BadRequest, match=r"^Request body is not valid JSON: Expecting .*char 1"):
        decode("{nope")


def test_not_gzip_says_so() -> None:
    body = base64.b64encode(b"plain").decode()
    with pytest.raises(
        BadRequest, match=r"^Content-Encoding is gzip but the body is not valid gzip"
    ):
        decode(body, True, "gzip")


def test_truncated_gzip_says_so() -> None:
    body = base64.b64encode(gzip.compress(BODY.encode())[:-8]).decode()
    with pytest.raises(BadRequest, match="truncated gzip stream"):
        decode(body, True, "gzip")


def test_gzip_bomb_stops_at_the_request_limit() -> None:
    bomb = base64.b64encode(gzip.compress(b" " * (10 * 1024 * 1024))).decode()
    with pytest.raises(LimitExceeded, match="the limit is 500 KB"):
        decode(bomb, True, "gzip")


def test_single_call_takes_its_type_from_the_path() -> None:
    assert single_event({"userId": "u", "event": "E"}, "track") == [
        {"userId": "u", "event": "E", "type": "track"}
    ]


def test_single_call_type_must_match_the_path() -> None:
    with pytest.raises(BadRequest) as caught:
        single_event({"type": "page"}, "track")
    assert str(caught.value) == "Body type 'page' does not match the path's 'track'"


def test_single_call_must_be_an_object() -> None:
    with pytest.raises(BadRequest, match=r"^An identify body must be a JSON object$"):
        single_event([1, 2], "identify")


def test_batch_merges_top_level_context_and_integrations_into_items() -> None:
    payload = {
        "batch": [
            {"type": "track", "context": {"ip": "1.1.1.1"}},
            {"type": "page", "integrations": {"Richpanel": False}},
        ],
        "context": {"library": {"name": "x"}, "ip": "9.9.9.9"},
        "integrations": {"All": True},
    }
    first, second = batch_events(payload)
    assert first["context"] == {"library": {"name": "x"}, "ip": "1.1.1.1"}
    assert first["integrations"] == {"All": True}
    assert second["integrations"] == {"All": True, "Richpanel": False}


def test_batch_keeps_non_object_items_for_reporting() -> None:
    assert batch_events({"batch": [1]}) == [{"__invalid__": 1}]


@pytest.mark.parametrize("payload", [[], {"batch": {}}, {"events": []}, "x"])
def test_batch_shape_errors(payload: object) -> None:
    with pytest.raises(
        BadRequest, match=r'^A batch body must be a JSON object with a "batch" array$'
    ):
        batch_events(payload)


def test_webhook_takes_an_object_or_an_array() -> None:
    assert webhook_events({"type": "track"}) == [{"type": "track"}]
    assert webhook_events([{"type": "track"}, 5]) == [{"type": "track"}, {"__invalid__": 5}]
    with pytest.raises(BadRequest, match=r"^A webhook body must be a JSON object or an array"):
        webhook_events("x")


def test_multi_member_gzip_is_read_whole() -> None:
    members = gzip.compress(b'{"a": ') + gzip.compress(b"1}")
    assert decode(base64.b64encode(members).decode(), True, "gzip") == {"a": 1}


def test_gzip_over_the_limit_once_inflated_says_so() -> None:
    body = base64.b64encode(gzip.compress(b" " * 600_000)).decode()
    with pytest.raises(LimitExceeded) as caught:
        decode(body, True, "gzip")
    assert str(caught.value) == (
        "Request body is over 512000 bytes once decompressed; "
        "the limit is 500 KB (512000 bytes) per request"
    )
