"""Properties of the ingest handler under random and hostile requests (Hypothesis).

The handler runs in-process (tests/fuzz/conftest.py) in front of a stub Richpanel, whose
answer to each call is a pure function of the call's eventId and a per-example seed, and a
stub SQS that parks everything. Whatever arrives:

- the answer is never a 5xx and the handler never raises;
- every 4xx is JSON with a non-empty string ``message``;
- every result agrees with the stubs: delivered only if the stub delivered that call, queued
  only if it was retryable and parked on the retry queue, dead-lettered only if it was
  refused for good and parked on the DLQ; no call is sent that is not reported;
- every valid event (JSON Schemas and Richpanel's rules) is delivered or parked, or skipped
  exactly when its type or its Integrations object says so.
"""

from __future__ import annotations

import json
import string
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from richpanel_destination.inbound.request import ROUTES
from richpanel_destination.richpanel.outcomes import Kind

from .conftest import Answer, Ingest, decision, fuzz_settings

# the handler flushes its (empty) metrics on every invocation
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

CALL_TYPES = ("identify", "track", "page", "screen", "group", "alias")
SINGLE_ROUTES = {name: kind for name, kind in ROUTES.items() if kind in CALL_TYPES}
BATCH_ROUTES = [name for name, kind in ROUTES.items() if kind == "batch"]
FATE_OF = {Kind.DELIVERED: "delivered", Kind.RETRYABLE: "queued", Kind.PERMANENT: "dead_lettered"}
SENT = ("delivered", "queued", "dead_lettered")
OUTCOMES = ("delivered", "queued", "duplicate", "superseded", "dead_lettered", "rejected",
            "skipped", "failed")  # fmt: skip
TOO_DEEP = "Request body is nested too deeply; the limit is 64 levels"

# ---------------------------------------------------------------------------- strategies

seeds = st.integers(min_value=0, max_value=2**16)
# now and then with lone surrogates (json.dumps escapes them: "\\ud800"), as JavaScript
# senders produce when they cut a string in the middle of an emoji
short_text = st.text(max_size=24) | st.builds(
    "{}{}{}".format,
    st.text(max_size=4),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    st.text(max_size=4),
)
names = st.text(min_size=1, max_size=24)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | short_text
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(short_text, inner, max_size=4),
    max_leaves=12,
)
TRAIT_NAMES = (
    "email",
    "name",
    "firstName",
    "first_name",
    "lastName",
    "last_name",
    "phone",
    "phone_number",
    "address",
    "billing_address",
    "shippingAddress",
    "createdAt",
    "richpanel_session_id",
    "audience_vip",
)
PROPERTY_NAMES = (
    "order_id",
    "total",
    "revenue",
    "currency",
    "email",
    "products",
    "richpanel_session_id",
    "url",
)
traits = st.dictionaries(st.sampled_from(TRAIT_NAMES) | short_text, json_values, max_size=6)
products = st.lists(
    st.dictionaries(
        st.sampled_from(("product_id", "id", "sku", "name", "price", "quantity", "category")),
        json_scalars,
        max_size=5,
    ),
    max_size=3,
)
properties = st.dictionaries(
    st.sampled_from(PROPERTY_NAMES) | short_text, json_values | products, max_size=6
)
ZONES = ("Z", "z", "+00:00", "-05:30", "+0100", "+02", "")


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    """Lenient ISO-8601, as the schema pattern and timestamps.parse both take it."""
    moment = draw(
        st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31))
    ).replace(tzinfo=UTC)
    form = draw(st.sampled_from(("date", "minutes", "seconds", "millis", "micros")))
    if form == "date":
        return moment.strftime("%Y-%m-%d")
    sep = draw(st.sampled_from(("T", "t", " ")))
    text = moment.strftime(f"%Y-%m-%d{sep}%H:%M")
    if form != "minutes":
        text += moment.strftime(":%S")
    if form == "millis":
        text += draw(st.sampled_from(".,")) + f"{moment.microsecond // 1000:03d}"
    elif form == "micros":
        text += f".{moment.microsecond:06d}"
    return text + draw(st.sampled_from(ZONES))


contexts = st.fixed_dictionaries(
    {},
    optional={
        "ip": st.sampled_from(("203.0.113.7", "2001:db8::1")) | short_text,
        "userAgent": short_text,
        "library": st.fixed_dictionaries({"name": short_text, "version": short_text}),
        "page": st.dictionaries(
            st.sampled_from(("path", "url", "title", "referrer", "search")), short_text
        ),
        "traits": traits,
        "locale": short_text,
    },
)
INTEGRATION_KEYS = ("All", "Richpanel", "Intercom", "Google Analytics")
integrations = st.dictionaries(
    st.sampled_from(INTEGRATION_KEYS),
    st.booleans() | st.dictionaries(short_text, json_scalars, max_size=2),
    max_size=3,
)


@st.composite
def valid_events(draw: st.DrawFn, call_type: str | None = None) -> dict[str, Any]:
    """A call the schemas accept and Richpanel can take (identify has a userId)."""
    kind = call_type or draw(st.sampled_from(CALL_TYPES))
    event: dict[str, Any] = {"type": kind}
    who = "userId" if kind == "identify" else draw(st.sampled_from(("userId", "anonymousId")))
    event[who] = draw(names)
    other = "anonymousId" if who == "userId" else "userId"
    if draw(st.booleans()):
        event[other] = draw(st.none() | short_text)
    optional = {
        "timestamp": timestamps(),
        "originalTimestamp": timestamps(),
        "sentAt": timestamps(),
        "context": contexts,
        "integrations": integrations,
        "channel": short_text,
        "version": st.integers(0, 3) | short_text,
    }
    if kind == "track":
        event["event"] = draw(names)
        optional["properties"] = properties
    elif kind in ("page", "screen"):
        optional |= {"name": st.none() | short_text, "properties": properties}
        if kind == "page":
            optional["category"] = st.none() | short_text
    elif kind in ("identify", "group"):
        optional["traits"] = traits
        if kind == "group":
            event["groupId"] = draw(names)
    elif kind == "alias":
        event["previousId"] = draw(names)
    for key in draw(st.sets(st.sampled_from(sorted(optional)))):
        event[key] = draw(optional[key])
    return event


def with_message_ids(events: list[dict[str, Any]], tag: str) -> list[dict[str, Any]]:
    """Unique messageIds (<= 100 characters) so each result can be matched to its call."""
    return [{**e, "messageId": f"fz-{i}-{tag}"[:100]} for i, e in enumerate(events)]


@st.composite
def valid_requests(draw: st.DrawFn) -> tuple[str, Any, list[dict[str, Any]]]:
    """(path, body, the events the handler should see) for a valid request."""
    shape = draw(st.sampled_from(("single", "batch", "webhook-object", "webhook-array")))
    tag = draw(st.text(string.ascii_letters + string.digits, max_size=12))
    if shape == "single":
        route = draw(st.sampled_from(sorted(SINGLE_ROUTES)))
        (event,) = with_message_ids([draw(valid_events(SINGLE_ROUTES[route]))], tag)
        body = dict(event)
        if draw(st.booleans()):
            del body["type"]  # the path names it
        return f"/v1/{route}", body, [event]
    items = with_message_ids(draw(st.lists(valid_events(), min_size=0, max_size=6)), tag)
    if shape == "webhook-object":
        item = items[0] if items else with_message_ids([draw(valid_events())], tag)[0]
        return "/v1/webhook", item, [item]
    if shape == "webhook-array":
        return "/v1/webhook", items, items
    body: dict[str, Any] = {"batch": items}
    shared: dict[str, Any] = {}
    if draw(st.booleans()):
        shared["context"] = draw(contexts)
    if draw(st.booleans()):
        shared["integrations"] = draw(integrations)
    body |= shared
    if draw(st.booleans()):
        body["sentAt"] = draw(timestamps())
    merged = []
    for item in items:
        event = {**shared, **item}
        for key, value in shared.items():
            if isinstance(item.get(key), dict):
                event[key] = {**value, **item[key]}
        merged.append(event)
    return f"/v1/{draw(st.sampled_from(BATCH_ROUTES))}", body, merged


content_types = st.sampled_from(
    (
        None,
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/vnd.segment+json",
    )
)


def sender_headers(content_type: str | None) -> dict[str, str]:
    headers = {"User-Agent": "analytics-fuzz/1.0"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return headers


# ---------------------------------------------------------------------------- oracles


def skipped(event: dict[str, Any], path: str) -> bool:
    """Richpanel takes identify, track and page; Integrations may switch it off.

    On /v1/webhook Segment has applied the object already: only Richpanel false counts.
    """
    if event["type"] not in ("identify", "track", "page"):
        return True
    flags = {k.lower(): v for k, v in (event.get("integrations") or {}).items()}
    own = flags.get("richpanel")
    forwarded = path.endswith("/webhook")
    return own is False or (not forwarded and flags.get("all") is False and not own)


def check_answer(answer: Answer) -> None:
    """What holds for every answer: no 5xx or crash, messages on 4xx, results agree with stubs."""
    assert answer.crashed is None, f"handler raised {answer.crashed!r}"
    assert answer.status < 500, (answer.status, answer.body)
    if 400 <= answer.status < 500:
        assert isinstance(answer.body, dict), answer.body
        message = answer.body.get("message")
        assert isinstance(message, str) and message.strip(), answer.body
    if isinstance(answer.body, dict) and "results" in answer.body:
        check_results(answer)
    else:
        assert not answer.sent and not answer.messages, "calls made but not reported"


def check_results(answer: Answer) -> None:
    results, summary = answer.body["results"], answer.body["summary"]
    counts = Counter(r["outcome"] for r in results)
    assert summary == {"received": len(results)} | {o: counts[o] for o in OUTCOMES}
    assert [r["index"] for r in results] == list(range(len(results)))
    assert counts["failed"] == 0  # SQS (the stub) always takes what it is given
    # every call the stub saw is reported, each exactly once, and no report is invented
    assert len(answer.sent) == sum(counts[o] for o in SENT)
    parked = Counter(p.dead_letter for p in answer.messages)
    assert parked[False] == counts["queued"] and parked[True] == counts["dead_lettered"]
    answered = Counter(FATE_OF[kind] for _, kind in answer.sent)
    assert answered == Counter({o: counts[o] for o in SENT if counts[o]})
    for result in results:
        if result["outcome"] in SENT:
            expected = FATE_OF[decision(answer.seed, result["messageId"] or None)]
            assert result["outcome"] == expected, (result, answer.sent)


# ---------------------------------------------------------------------------- properties


@fuzz_settings()
@given(request=valid_requests(), content_type=content_types, packing=st.integers(0, 2), seed=seeds)
def test_valid_events_are_delivered_parked_or_skipped(
    ingest: Ingest,
    request: tuple[str, Any, list[dict[str, Any]]],
    content_type: str | None,
    packing: int,
    seed: int,
) -> None:
    path, body, events = request
    answer = ingest.post(
        path,
        json.dumps(body),
        headers=sender_headers(content_type),
        gzip_body=packing == 2,
        base64_body=packing == 1,
        seed=seed,
    )
    check_answer(answer)
    assert answer.status == 200, answer.body
    results = answer.body["results"]
    assert len(results) == len(events)
    for event, result in zip(events, results, strict=True):
        assert result["messageId"] == event["messageId"]
        assert result["type"] == event["type"]
        if skipped(event, path):
            assert result["outcome"] == "skipped", (event, result)
        else:
            expected = FATE_OF[decision(seed, event["messageId"])]
            assert result["outcome"] == expected, (event, result)
    delivered = {c["eventId"] for c, kind in answer.sent if kind is Kind.DELIVERED}
    assert delivered == {r["messageId"] for r in results if r["outcome"] == "delivered"}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every location in a JSON value (the root is ())."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


WRONG_TYPES = st.sampled_from((None, 0, -1.5, True, "", "x", [], {}, [1], {"a": 1}))


@st.composite
def mutated(draw: st.DrawFn, value: Any) -> Any:
    """A copy of value with one change somewhere: dropped, replaced, retyped, wrapped, added."""
    value = json.loads(json.dumps(value))
    where = draw(st.sampled_from(_paths(value)))
    op = draw(st.sampled_from(("drop", "replace", "retype", "wrap", "add", "empty")))
    if not where:
        return draw(json_values) if op in ("replace", "retype") else [value]
    *parents, last = where
    node = value
    for part in parents:
        node = node[part]
    if op == "drop":
        del node[last]
    elif op == "replace":
        node[last] = draw(json_values)
    elif op == "retype":
        node[last] = draw(WRONG_TYPES)
    elif op == "wrap":
        node[last] = [node[last]]
    elif op == "empty":
        node[last] = type(node[last])() if isinstance(node[last], list | dict | str) else None
    elif isinstance(node[last], dict):
        node[last][draw(st.sampled_from(("type", "userId", "batch", "event")) | short_text)] = draw(
            json_values
        )
    else:
        node[last] = {"value": node[last]}
    return value


@fuzz_settings()
@given(data=st.data(), request=valid_requests(), changes=st.integers(1, 4), seed=seeds)
def test_mutated_requests_never_fail_the_server(
    ingest: Ingest,
    data: st.DataObject,
    request: tuple[str, Any, list[dict[str, Any]]],
    changes: int,
    seed: int,
) -> None:
    path, body, _ = request
    for _ in range(changes):
        body = data.draw(mutated(body))
    answer = ingest.post(path, json.dumps(body), headers=sender_headers("text/plain"), seed=seed)
    check_answer(answer)
    assert answer.status in (200, 400), answer.body


ROUTE_PATHS = st.sampled_from(sorted(f"/v1/{name}" for name in ROUTES))


@fuzz_settings()
@given(path=ROUTE_PATHS, body=json_values, content_type=content_types, seed=seeds)
def test_random_json_bodies_never_fail_the_server(
    ingest: Ingest, path: str, body: Any, content_type: str | None, seed: int
) -> None:
    answer = ingest.post(path, json.dumps(body), headers=sender_headers(content_type), seed=seed)
    check_answer(answer)
    assert answer.status in (200, 400), answer.body


HEADER_NAMES = (
    "Content-Type",
    "content-type",
    "Content-Encoding",
    "CONTENT-ENCODING",
    "Authorization",
    "X-Signature",
    "User-Agent",
    "Accept",
    "X-Forwarded-For",
)
header_values = st.sampled_from(
    (
        "application/json",
        "text/plain",
        "gzip",
        "x-gzip",
        "identity",
        "br",
        "deflate",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "image/png",
        "Basic Og==",
        "",
    )
) | st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF), max_size=40)
random_paths = (
    ROUTE_PATHS
    | st.builds(lambda s: f"/v1/{s}", st.text(string.ascii_letters + string.digits + "-._~"))
    | st.sampled_from(("/", "/v1", "/v1/", "/v2/track", "/v1/track/extra", "/v1//track"))
)
bodies = st.one_of(
    st.none(),
    st.binary(max_size=600),
    st.text(max_size=300),
    st.builds(json.dumps, json_values),
    st.builds(lambda v: json.dumps(v).encode("utf-8"), json_values),
)


@fuzz_settings()
@given(
    path=random_paths,
    method=st.sampled_from(("POST", "POST", "POST", "GET", "PUT", "DELETE", "OPTIONS")),
    body=bodies,
    headers=st.dictionaries(st.sampled_from(HEADER_NAMES), header_values, max_size=4),
    gzip_body=st.booleans(),
    seed=seeds,
)
def test_random_bytes_headers_and_paths_never_fail_the_server(
    ingest: Ingest,
    path: str,
    method: str,
    body: str | bytes | None,
    headers: dict[str, str],
    gzip_body: bool,
    seed: int,
) -> None:
    answer = ingest.post(
        path, body, headers=headers, gzip_body=gzip_body and body is not None, seed=seed
    )
    check_answer(answer)


# ---------------------------------------------------------------------------- hostile text

HOSTILE = (
    "nested",
    "nan",
    "overflow",
    "long-integer",
    "duplicate",
    "bom",
    "lone-surrogate",
    "invalid-utf8",
    "content-type",
)


@st.composite
def hostile_requests(draw: st.DrawFn) -> tuple[str, bytes, dict[str, str], int | None, str]:
    """(attack, raw body, headers, expected status (None: 200), expected message or text)."""
    attack = draw(st.sampled_from(HOSTILE))
    message_id = "fz-" + draw(st.text(string.ascii_letters, min_size=1, max_size=8))
    head = f'{{"userId": "u-1", "event": "Hostile", "messageId": "{message_id}", '
    headers = {"Content-Type": "application/json"}
    if attack == "nested":
        depth = draw(st.integers(1, 100) | st.integers(100, 50_000))
        inner = draw(st.sampled_from(("[", '{"a":')))
        close = "]" if inner == "[" else "}"
        text = head + '"properties": {"x": ' + inner * depth + "1" + close * depth + "}}"
        if depth + 2 > 64:  # the event is level 1, properties level 2
            return attack, text.encode(), headers, 400, TOO_DEEP
        kept = "[" * depth + "1" if inner == "[" else '{"a": ' * depth + "1"
        return attack, text.encode(), headers, None, '"x": ' + kept
    if attack == "nan":
        literal = draw(st.sampled_from(("NaN", "Infinity", "-Infinity")))
        text = head + f'"properties": {{"total": {literal}}}}}'
        return attack, text.encode(), headers, 400, f"{literal} is not allowed"
    if attack == "overflow":
        number = draw(st.sampled_from(("1e999", "-1e400", "2E+309", "1" * 400 + ".5e308")))
        text = head + f'"properties": {{"total": {number}}}}}'
        return attack, text.encode(), headers, 400, "is out of range"
    if attack == "long-integer":
        digits = draw(st.integers(4_000, 6_000))
        text = head + f'"properties": {{"n": {"9" * digits}}}}}'
        if digits > 4300:
            return attack, text.encode(), headers, 400, "a number has more than 4300 digits"
        return attack, text.encode(), headers, None, '"n": ' + "9" * digits
    if attack == "duplicate":
        key = draw(st.sampled_from(("userId", "event", "messageId", "x")))
        text = head + f'"properties": {{"{key}": 1, "{key}": 2}}}}'
        return attack, text.encode(), headers, 400, f"duplicate key '{key}'"
    if attack == "bom":
        text = head + '"properties": {"a": "\u00e9"}}'
        return attack, b"\xef\xbb\xbf" + text.encode(), headers, None, ""
    if attack == "lone-surrogate":
        escape = draw(st.sampled_from(("\\ud800", "\\udfff", "\\uDBFF", "\\ud83d")))
        text = head + f'"properties": {{"a": "x{escape}y"}}}}'
        return attack, text.encode(), headers, None, "x\ufffdy"
    if attack == "invalid-utf8":
        junk = draw(st.sampled_from((b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80")))
        raw = head.encode() + b'"properties": {"a": "' + junk + b'"}}'
        return attack, raw, headers, 400, "'utf-8' codec can't decode"
    media = draw(
        st.sampled_from(
            ("application/x-www-form-urlencoded", "multipart/form-data", "image/png", "text/html")
        )
    )
    text = head + '"properties": {}}'
    headers["Content-Type"] = media
    return attack, text.encode(), headers, 415, f"Content-Type {media!r} is not supported"


@fuzz_settings()
@given(request=hostile_requests(), seed=seeds)
def test_hostile_bodies_get_the_right_answer(
    ingest: Ingest, request: tuple[str, bytes, dict[str, str], int | None, str], seed: int
) -> None:
    attack, raw, headers, status, expected = request
    answer = ingest.post("/v1/track", raw, headers=headers, seed=seed)
    check_answer(answer)
    if status is None:
        assert answer.status == 200, (attack, answer.body)
        (call, _), *_ = answer.sent
        assert expected in json.dumps(call, ensure_ascii=False)
    else:
        assert answer.status == status, (attack, answer.body)
        assert expected in answer.body["message"], (attack, answer.body)
        assert not answer.sent
