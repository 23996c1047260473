import base64
import gzip
import json

import pytest

from richpanel_destination.inbound.decode import BadRequest, UnsupportedMediaType
from richpanel_destination.inbound.request import ROUTES, header, read_body, read_request
from richpanel_destination.limits import LimitExceeded

TRACK = {"userId": "u", "event": "E"}


def read(route: str, payload: object, **headers: str):  # type: ignore[no-untyped-def]
    return read_request(route, json.dumps(payload), is_base64=False, headers=headers)


@pytest.mark.parametrize(
    ("route", "kind"),
    [
        ("i", "identify"),
        ("t", "track"),
        ("p", "page"),
        ("s", "screen"),
        ("g", "group"),
        ("a", "alias"),
        ("b", "batch"),
        ("webhook", "webhook"),
        ("track", "track"),
    ],
)
def test_short_and_long_paths(route: str, kind: str) -> None:
    assert ROUTES[route] == kind


def test_single_call() -> None:
    request = read("t", TRACK)
    assert (request.kind, request.single) == ("track", True)
    assert request.events == [{**TRACK, "type": "track"}]


def test_batch_is_not_single() -> None:
    request = read("b", {"batch": [{**TRACK, "type": "track"}] * 3})
    assert (request.kind, request.single, len(request.events)) == ("batch", False, 3)


def test_webhook_object_is_single_array_is_not() -> None:
    assert read("webhook", {**TRACK, "type": "track"}).single is True
    request = read("webhook", [{**TRACK, "type": "track"}] * 2)
    assert (request.single, len(request.events)) == (False, 2)


def test_gzip_base64_body_with_any_header_casing() -> None:
    body = base64.b64encode(gzip.compress(json.dumps(TRACK).encode())).decode()
    request = read_request(
        "track",
        body,
        is_base64=True,
        headers={"content-encoding": "gzip", "CONTENT-TYPE": "text/plain"},
    )
    assert request.events == [{**TRACK, "type": "track"}]


def test_limits_apply_to_the_decoded_events() -> None:
    with pytest.raises(LimitExceeded, match="2500 events per batch"):
        read("batch", {"batch": [{}] * 2501})
    with pytest.raises(LimitExceeded, match="32 KB"):
        read("track", {**TRACK, "properties": {"blob": "x" * 33_000}})


def test_bad_json_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match="not valid JSON"):
        read_request("track", "{", is_base64=False, headers=None)


def test_header_lookup_ignores_case() -> None:
    assert header({"Content-Encoding": "gzip"}, "content-encoding") == "gzip"
    assert header(None, "x") is None


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Content-Type": "application/json"},
        {"content-type": "text/plain"},
        {"Content-Type": "text/plain;charset=UTF-8"},
        {"Content-Type": "application/vnd.segment+json"},
    ],
)
def test_json_text_and_missing_content_types_are_read(headers: dict[str, str]) -> None:
    request = read_request("t", json.dumps(TRACK), is_base64=False, headers=headers)
    assert request.events == [{**TRACK, "type": "track"}]


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "multipart/form-data; boundary=b", "image/png"],
)
def test_other_content_types_are_415_before_the_body_is_read(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        # the body is not even valid: the media type is refused first
        read_request("batch", "%%%", is_base64=True, headers={"content-type": content_type})
    assert caught.value.status == 415
    media = content_type.split(";")[0]
    assert str(caught.value) == (
        f"Content-Type {media!r} is not supported; send application/json or text/plain"
    )


def test_reading_a_body_gives_the_raw_bytes_and_the_parsed_body() -> None:
    raw = b'\xef\xbb\xbf{"userId": "u", "event": "E"}'
    body = read_body("t", base64.b64encode(raw).decode(), is_base64=True, headers=None)
    assert (body.kind, body.raw, body.payload) == ("track", raw, TRACK)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[" * 10_000, "Request body is nested too deeply; the limit is 64 levels"),
        (
            '{"userId": "u", "event": "E", "properties": {"total": NaN}}',
            "Request body is not valid JSON: NaN is not allowed (JSON has no NaN or Infinity)",
        ),
        (
            '{"userId": "u", "event": "E", "properties": {"total": 1e999}}',
            "Request body is not valid JSON: number 1e999 is out of range",
        ),
        (
            '{"userId": "u", "event": "E", "properties": {"n": ' + "7" * 5000 + "}}",
            "Request body is not valid JSON: a number has more than 4300 digits",
        ),
        (
            '{"userId": "u", "event": "E", "event": "F"}',
            "Request body is not valid JSON: duplicate key 'event' in an object",
        ),
    ],
    ids=["deep", "nan", "overflow", "long-integer", "duplicate-key"],
)
def test_hostile_bodies_are_400_with_a_message(body: str, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        read_request("track", body, is_base64=False, headers={"Content-Type": "application/json"})
    assert caught.value.status == 400
    assert str(caught.value) == message


def test_a_lone_surrogate_is_replaced_not_refused() -> None:
    body = '{"userId": "u", "event": "E\\ud83d"}'
    assert read_request("t", body, is_base64=False, headers=None).events == [
        {"userId": "u", "event": "E\ufffd", "type": "track"}
    ]


def test_the_webhook_route_takes_batches_the_tracking_api_refuses() -> None:
    item = {**TRACK, "type": "track", "properties": {"pad": "x" * 900}}  # ~1 KB each
    body = [{**item, "messageId": f"m{i}"} for i in range(4_000)]
    request = read("webhook", body)
    assert (request.single, len(request.events)) == (False, 4_000)
    with pytest.raises(LimitExceeded, match="4001 events; the limit is 4000"):
        read("webhook", [*body, item])
    with pytest.raises(LimitExceeded, match="per request on the Tracking API routes"):
        read("batch", {"batch": body})  # ~4 MB: over 500 KB
    with pytest.raises(LimitExceeded, match="2501 events; the limit is 2500"):
        read("batch", {"batch": [{}] * 2_501})


def test_the_webhook_route_refuses_a_body_over_its_size_limit() -> None:
    from richpanel_destination.limits import WEBHOOK

    pad = "x" * (30_000 - len(json.dumps({**TRACK, "type": "track", "p": ""})) - 5)
    item = {**TRACK, "type": "track", "p": pad}
    count = WEBHOOK.request_bytes // len(json.dumps(item)) + 1
    with pytest.raises(LimitExceeded, match="per request on the webhook route"):
        read("webhook", [item] * count)
