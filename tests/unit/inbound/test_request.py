import base64
import gzip
import json

import pytest

from richpanel_destination.inbound.decode import BadRequest
from richpanel_destination.inbound.limits import LimitExceeded
from richpanel_destination.inbound.request import ROUTES, header, read_request

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
        "track", body, is_base64=True, headers={"content-encoding": "gzip", "Content-Type": "x"}
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
