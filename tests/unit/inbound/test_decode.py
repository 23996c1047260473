import base64
import gzip
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from richpanel_destination.inbound.decode import (
    BadRequest,
    UnsupportedMediaType,
    batch_events,
    body_bytes,
    check_content_type,
    deeper_than,
    parse_json,
    single_event,
    webhook_events,
)
from richpanel_destination.limits import LimitExceeded

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
        "the limit is 500 KB (512000 bytes) per request on the Tracking API routes"
    )


# ---------------------------------------------------------------------------- hostile bodies


def parse(text: str | bytes) -> object:
    return parse_json(text.encode("utf-8") if isinstance(text, str) else text)


def refused(text: str | bytes) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        parse(text)
    assert type(caught.value) is BadRequest
    assert caught.value.status == 400
    return caught.value


TOO_DEEP = "Request body is nested too deeply; the limit is 64 levels"


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,  # json.loads gives up with RecursionError
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 5_000 + "1" + "}" * 5_000,
        "[" * 65 + "]" * 65,  # parses, but is deeper than the limit
        '{"batch":[{"properties":{"a":' + "[" * 61 + "]" * 61 + "}}]}",
    ],
    ids=["100k-open", "100k-balanced", "5k-objects", "65-arrays", "65-in-a-batch"],
)
def test_deep_nesting_is_refused(text: str) -> None:
    assert str(refused(text)) == TOO_DEEP


def test_nesting_up_to_the_limit_is_accepted() -> None:
    assert parse("[" * 64 + "]" * 64) is not None
    payload = parse('{"batch":[{"properties":{"a":' + "[" * 60 + "]" * 60 + "}}]}")
    assert isinstance(payload, dict)
    # brackets inside strings are not nesting
    assert parse(json.dumps({"a": "[" * 1000 + "{" * 1000})) == {"a": "[" * 1000 + "{" * 1000}


def test_deeper_than_counts_arrays_and_objects() -> None:
    assert deeper_than(1, 1) is False
    assert deeper_than([], 1) is False
    assert deeper_than([[]], 1) is True
    assert deeper_than({"a": [{"b": []}]}, 3) is True
    assert deeper_than({"a": [{"b": []}]}, 4) is False
    assert deeper_than([[[]], [], {"x": "[[[["}], 3) is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": NaN}', "Request body is not valid JSON: NaN is not allowed"),
        ('{"a": Infinity}', "Request body is not valid JSON: Infinity is not allowed"),
        ('{"a": -Infinity}', "Request body is not valid JSON: -Infinity is not allowed"),
        ("[NaN]", "Request body is not valid JSON: NaN is not allowed"),
    ],
)
def test_nan_and_infinity_literals_are_refused(text: str, message: str) -> None:
    assert str(refused(text)) == message + " (JSON has no NaN or Infinity)"


@pytest.mark.parametrize("number", ["1e999", "-1e999", "1E+400", "2E+309"])
def test_numbers_that_overflow_to_infinity_are_refused(number: str) -> None:
    assert str(refused(f'{{"a": {number}}}')) == (
        f"Request body is not valid JSON: number {number} is out of range"
    )


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"a": 123456789.0e999}', "at /a "),
        ("[" + "9" * 400 + "e999]", "at /0 "),
        ('{"b": [1, {"Janeth Roewood": 4155550199e999}]}', "at /b/1/<key 1> "),
        ("4155550199e999", ""),
    ],
    ids=["object", "array", "personal-key", "root"],
)
def test_an_overflowing_number_with_many_digits_is_named_by_its_place(
    text: str, where: str
) -> None:
    assert str(refused(text)) == f"Request body is not valid JSON: number {where}is out of range"


def test_large_but_finite_numbers_are_kept() -> None:
    assert parse("[1e308, -1e308, 1e-999, 123456789012345678901234567890]") == [
        1e308,
        -1e308,
        0.0,
        123456789012345678901234567890,
    ]


def test_an_integer_over_the_digit_limit_is_refused() -> None:
    assert str(refused('{"a": ' + "1" * 5_000 + "}")) == (
        "Request body is not valid JSON: a number has more than 4300 digits"
    )
    assert parse("[" + "1" * 4_000 + "]") == [int("1" * 4_000)]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"event": "a", "event": "b"}', "'event' in an object"),
        (
            '{"batch": [{"a": 1}, {"type": "track", "userId": "u", "userId": "v"}]}',
            "'userId' in an object at /batch/1",
        ),
        ('{"a": {"": 1, "": 2}}', "<key 2> in an object at /a"),
        ('{"a": 1, "b": 2, "a": 3}', "'a' in an object"),
    ],
)
def test_duplicate_keys_are_refused_naming_the_key_and_its_place(text: str, problem: str) -> None:
    assert str(refused(text)) == f"Request body is not valid JSON: duplicate key {problem}"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            '{"traits": {"Janeth Roewood": 1, "Janeth Roewood": 2}}',
            "<key 2> in an object at /traits",
        ),
        (
            '{"traits": {"x": 0, "jane@example.com": 1, "jane@example.com": 2}}',
            "<key 3> in an object at /traits",
        ),
        (
            '{"friends": {"Janeth Roewood": {"a": 1, "a": 2}}}',
            "'a' in an object at /friends/<key 1>",
        ),
        (json.dumps({"k" * 500: 1})[:-1] + f', "{"k" * 500}": 2}}', "<key 2> in an object"),
    ],
    ids=["name", "email", "under-a-name", "long"],
)
def test_a_duplicate_key_that_may_be_personal_is_not_echoed(text: str, problem: str) -> None:
    assert str(refused(text)) == f"Request body is not valid JSON: duplicate key {problem}"


def test_the_same_key_in_different_objects_is_fine() -> None:
    assert parse('[{"a": 1}, {"a": 2}, {"b": {"a": 3}}]') == [{"a": 1}, {"a": 2}, {"b": {"a": 3}}]


@pytest.mark.parametrize(
    "raw",
    [b'{"a": "\xff"}', b'{"a": "\xed\xa0\x80"}', b"\xff\xfe{\x00}\x00", b'{"a": "\xc3"}'],
    ids=["invalid-start-byte", "encoded-surrogate", "utf-16-bom", "truncated-sequence"],
)
def test_bodies_that_are_not_utf8_are_refused(raw: bytes) -> None:
    message = str(refused(raw))
    assert message.startswith("Request body is not valid JSON: 'utf-8' codec can't decode byte")


def test_a_utf16_body_is_refused_even_without_a_bom() -> None:
    raw = json.dumps({"a": 1}).encode("utf-16-le")
    assert str(refused(raw)).startswith("Request body is not valid JSON: ")


def test_a_utf8_bom_is_ignored() -> None:
    assert parse(b'\xef\xbb\xbf{"a": "\xc3\xa9"}') == {"a": "é"}
    # only one BOM, and only at the start
    assert str(refused(b"\xef\xbb\xbf\xef\xbb\xbf{}")).startswith(
        "Request body is not valid JSON: Expecting value"
    )


def test_lone_surrogate_escapes_become_the_replacement_character() -> None:
    assert parse('{"a": "x\\ud800y", "b": ["\\udfff"]}') == {"a": "x\ufffdy", "b": ["\ufffd"]}
    assert parse('{"k\\udc00": 1}') == {"k\ufffd": 1}
    # a high surrogate followed by a literal backslash and text is still lone
    assert parse('["\\ud800\\\\udc00"]') == ["\ufffd\\udc00"]
    assert parse('["\\\\ud800\\udc00"]') == ["\\ud800\ufffd"]


def test_surrogate_pairs_are_kept() -> None:
    assert parse('{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}
    assert parse('{"a": "\\\\ud800"}') == {"a": "\\ud800"}


def test_keys_that_only_differ_in_lone_surrogates_merge_the_last_wins() -> None:
    # distinct keys as sent, so not the sender's duplicate: one key once replaced
    assert parse('{"a": {"\\ud800": 1, "\\udfff": 2, "\\ufffd": 3}}') == {"a": {"\ufffd": 3}}
    assert parse('{"\\ud800": 1, "b": 2, "\\udfff": 4}') == {"\ufffd": 4, "b": 2}


def test_a_text_body_with_lone_surrogates_is_refused() -> None:
    with pytest.raises(BadRequest) as caught:
        body_bytes('{"a": "\ud800"}', is_base64=False, content_encoding=None)
    assert str(caught.value).startswith(
        "Request body is not valid JSON: 'utf-8' codec can't encode character '\\ud800'"
    )


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/vnd.segment+json",
        "application/cloudevents+json; charset=utf-8",
        " application/json ",
    ],
)
def test_json_and_text_content_types_are_accepted(content_type: str | None) -> None:
    check_content_type(content_type)


@pytest.mark.parametrize(
    ("content_type", "shown"),
    [
        ("application/x-www-form-urlencoded", "'application/x-www-form-urlencoded'"),
        ("multipart/form-data; boundary=xyz", "'multipart/form-data'"),
        ("image/png", "'image/png'"),
        ("text/html; charset=utf-8", "'text/html'"),
        ("application/xml", "'application/xml'"),
        ("json", "'json'"),
        ("x" * 300, "'" + "x" * 96 + "..."),
    ],
)
def test_other_content_types_are_unsupported_media(content_type: str, shown: str) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        check_content_type(content_type)
    assert caught.value.status == 415
    assert isinstance(caught.value, BadRequest)
    assert str(caught.value) == (
        f"Content-Type {shown} is not supported; send application/json or text/plain"
    )


@pytest.mark.parametrize(
    "call_type", ["x" * 1_000, "Janeth Roewood", 4155550199], ids=["long", "name", "number"]
)
def test_a_mismatched_type_that_is_not_a_field_name_is_not_echoed(call_type: object) -> None:
    with pytest.raises(BadRequest) as caught:
        single_event({"type": call_type}, "track")
    assert str(caught.value) == "Body type does not match the path's 'track'"


def test_bad_request_is_a_400_by_default() -> None:
    assert BadRequest("x").status == 400
    assert UnsupportedMediaType("x").status == 415


ESCAPE_PIECES = (
    "\\ud800",
    "\\uDBFF",
    "\\ud83d",
    "\\udc00",
    "\\uDE00",
    "\\udfff",
    "\\\\",
    "\\\\u",
    "\\u0041",
    "\\n",
    "u",
    "d800",
    "dc00",
    "a",
    "\U0001f600",
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.lists(st.lists(st.sampled_from(ESCAPE_PIECES), max_size=8), min_size=1, max_size=3))
def test_only_lone_surrogates_are_replaced_whatever_the_escapes(strings: list[list[str]]) -> None:
    text = "[" + ", ".join('"' + "".join(pieces) + '"' for pieces in strings) + "]"
    expected = [
        "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in s) for s in json.loads(text)
    ]
    parsed = parse(text)
    assert parsed == expected
    json.dumps(parsed, ensure_ascii=False).encode("utf-8")  # what Richpanel and SQS need
