"""Golden cases: a sender's request in, the exact answer and the exact Richpanel calls out.

Each file in tests/fixtures/golden/ is one case (format in tests/fixtures/golden/README.md).
The request goes over real HTTP to the local API (built from template.yaml), the ingest
handler runs in this process, and the Richpanel sandbox records what arrived.
"""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import requests

from local.run import LocalStack
from local.secrets import LOCAL_WRITE_KEY
from richpanel_destination import runtime

from .conftest import forget

SENDER_AUTHORIZATION = "Basic " + base64.b64encode(f"{LOCAL_WRITE_KEY}:".encode()).decode()
GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
CASES = sorted(GOLDEN.glob("*.json"))


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


def delivered_calls(sandbox_url: str) -> list[dict[str, Any]]:
    """Calls the sandbox accepted, without the per-request stamp, sorted by eventId."""
    calls = requests.get(f"{sandbox_url}/_sandbox/calls", timeout=5).json()["calls"]
    out = []
    for record in calls:
        assert record["status"] == 200, record
        call = record["call"]
        assert call.pop("appClientId") == "local-dev-key"
        assert isinstance(call["time"].pop("sentAt"), int)
        if not call["time"]:
            del call["time"]
        out.append(call)
    return sorted(out, key=lambda c: str(c.get("eventId")))


def test_there_are_at_least_forty_cases() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden_case(local_stack: LocalStack, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = expand(json.loads(path.read_text()))
    for name, value in case.get("settings", {}).items():
        monkeypatch.setenv(name, value)
    runtime.reset()
    sandbox = local_stack.sandbox.url  # type: ignore[union-attr]
    forget(local_stack)
    raw, headers = encode(case["request"])
    try:
        answer = requests.post(
            f"{local_stack.api.url}{case['request']['path']}",  # type: ignore[union-attr]
            data=raw,
            headers=headers,
            timeout=60,
        )
    finally:
        monkeypatch.undo()
        runtime.reset()
    expect = case["expect"]
    assert answer.status_code == expect["status"], answer.text
    assert answer.json() == expect["response"]
    assert delivered_calls(sandbox) == sorted(
        expect["richpanel"], key=lambda c: str(c.get("eventId"))
    )
