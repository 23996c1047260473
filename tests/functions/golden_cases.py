"""The golden cases (tests/fixtures/golden/*.json): loading, encoding, and which layer runs each.

Three layers run them (the rule is ``layer`` below; tests/fixtures/golden/README.md explains it):

- ``MAPPING``: one valid event in, one Richpanel call out, 200 delivered. Its call is also
  checked as a data test of the transform (tests/unit/mapping/test_golden_mapping.py), and the
  whole case runs through ``lambda_handler`` in-process (tests/handlers/test_golden_handler.py).
- ``HANDLER``: transport, limits, auth, hostile bodies, rejections, skips and batches: the
  whole case runs through ``lambda_handler`` in-process with a built API Gateway proxy event.
- ``EMULATOR``: what needs the local stack (the 1,000- and 4,000-event ``repeat`` batches,
  settings that name a table, queues or the sandbox's behaviour, anything parked or
  deduplicated): over real HTTP through tests/functions/test_golden.py. ``WIRE_SAMPLE`` also
  runs there, so the HTTP-to-event translation of each transport form stays end to end.
"""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

from local.secrets import LOCAL_RICHPANEL, LOCAL_WRITE_KEY

SENDER_AUTHORIZATION = "Basic " + base64.b64encode(f"{LOCAL_WRITE_KEY}:".encode()).decode()
GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
CASES = sorted(GOLDEN.glob("*.json"))

MAPPING = "mapping"
HANDLER = "handler"
EMULATOR = "emulator"

# The Tracking API's one-call routes (short paths too) and the type each gives a body
SINGLE_ROUTES = {
    "identify": "identify",
    "track": "track",
    "page": "page",
    "screen": "screen",
    "group": "group",
    "alias": "alias",
    "i": "identify",
    "t": "track",
    "p": "page",
    "s": "screen",
    "g": "group",
    "a": "alias",
}
# Settings a case may change in-process; any other needs the stack's resources (a table,
# queues), so the case stays on the emulator.
IN_PROCESS_SETTINGS = frozenset({"SCREENS_AS_PAGE_VIEWS"})
# Outcomes only the emulator's queues and idempotency table produce
STACK_OUTCOMES = frozenset({"queued", "dead_lettered", "duplicate", "superseded", "failed"})
# Also kept over HTTP (besides running in-process): one case per transport form, so the
# local API's translation of a real request (text, base64 for gzip, raw bytes) stays covered.
WIRE_SAMPLE = frozenset(
    {
        "track_basic",
        "track_gzip",
        "batch_short_path_gzip_text_plain",
        "identify_short_path_text_plain",
        "hostile_lone_surrogate_replaced",
        "hostile_content_type_image_png",
        "limit_request_over_500kb",
        "webhook_classic_single",
    }
)


def load(path: Path) -> dict[str, Any]:
    """One case, its ``repeat`` expanded."""
    return expand(json.loads(path.read_text()))


def route(case: dict[str, Any]) -> str:
    """The <route> of the request's /v1/<route>."""
    path: str = case["request"]["path"]
    return path.removeprefix("/v1/")


def layer(case: dict[str, Any]) -> str:
    """Where a case runs: MAPPING, HANDLER or EMULATOR (the rule in the README)."""
    request, expect = case["request"], case["expect"]
    response = expect["response"]
    results = response.get("results", []) if isinstance(response, dict) else []
    outcomes = {r.get("outcome") for r in results}
    summary = response.get("summary", {}) if isinstance(response, dict) else {}
    if (
        case.get("repeat")
        or set(case.get("settings", {})) - IN_PROCESS_SETTINGS
        or outcomes & STACK_OUTCOMES
        or any(summary.get(name) for name in STACK_OUTCOMES)
        or expect["status"] >= 500
    ):
        return EMULATOR
    body = request.get("body")
    one_event = route(case) in SINGLE_ROUTES or (
        route(case) == "webhook" and isinstance(body, dict)
    )
    if (
        one_event
        and isinstance(body, dict)
        and not {"rawBody", "encoding", "pad", "headers"} & set(request)
        and request.get("contentType", "application/json") in ("application/json", "text/plain")
        and not case.get("settings")
        and expect["status"] == 200
        and outcomes == {"delivered"}
        and len(results) == 1
        and len(expect["richpanel"]) == 1
    ):
        return MAPPING
    return HANDLER


def mapping_event(case: dict[str, Any]) -> dict[str, Any]:
    """The one event a MAPPING case carries (its type from the path when the body has none)."""
    body: dict[str, Any] = case["request"]["body"]
    call_type = SINGLE_ROUTES.get(route(case))
    if call_type is not None and "type" not in body:
        return {**body, "type": call_type}
    return body


def cases_in(*layers: str) -> list[Path]:
    return [path for path in CASES if layer(load(path)) in layers]


def encode(request: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The body bytes and headers a sender would put on the wire."""
    headers = {
        "Content-Type": request.get("contentType", "application/json"),
        "Authorization": SENDER_AUTHORIZATION,
    }
    headers.update(request.get("headers", {}))
    if "rawBody" in request:
        raw = request["rawBody"].encode("utf-8")
    else:
        raw = json.dumps(padded(request)).encode("utf-8")
    if request.get("encoding") == "gzip":
        raw = gzip.compress(raw)
        headers["Content-Encoding"] = "gzip"
    return raw, headers


def padded(request: dict[str, Any]) -> Any:
    """The body, with ``pad.length`` copies of ``pad.char`` at the dotted path ``pad.at``."""
    body = request["body"]
    pad = request.get("pad")
    if pad:
        *parents, leaf = [int(p) if p.isdigit() else p for p in pad["at"].split(".")]
        node = body
        for part in parents:
            node = node[part]
        node[leaf] = pad["char"] * pad["length"]
    return body


def expand(case: dict[str, Any]) -> dict[str, Any]:
    """A case with ``"repeat": N``: each list of one template in it becomes N copies.

    The lists expanded are the request body, the expected results and the expected calls; in
    each copy "{i}" inside a string becomes the copy's number, and a value that is exactly
    "{i}" becomes that number. Big Actions batches stay short to read this way.
    """
    count = case.get("repeat")
    if not count:
        return case

    def copy(template: Any, i: int) -> Any:
        if template == "{i}":
            return i
        if isinstance(template, str):
            return template.replace("{i}", str(i))
        if isinstance(template, list):
            return [copy(item, i) for item in template]
        if isinstance(template, dict):
            return {key: copy(value, i) for key, value in template.items()}
        return template

    def many(template_list: list[Any]) -> list[Any]:
        (template,) = template_list
        return [copy(template, i) for i in range(count)]

    request, expect = case["request"], case["expect"]
    return {
        **case,
        "request": {**request, "body": many(request["body"])},
        "expect": {
            **expect,
            "response": {**expect["response"], "results": many(expect["response"]["results"])},
            "richpanel": many(expect["richpanel"]),
        },
    }


def unstamped(call: dict[str, Any]) -> dict[str, Any]:
    """A call as Richpanel decoded it, without what the wire adds (appClientId, sentAt)."""
    assert call.pop("appClientId") == LOCAL_RICHPANEL["apiKey"]
    assert isinstance(call["time"].pop("sentAt"), int)
    if not call["time"]:
        del call["time"]
    return call


def by_event_id(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(calls, key=lambda c: str(c.get("eventId")))
