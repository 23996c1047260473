"""Golden cases that need the local stack, over real HTTP: a request in, the exact answer and
the exact Richpanel calls out.

Each file in tests/fixtures/golden/ is one case (format and layers in
tests/fixtures/golden/README.md). The cases here are those golden_cases.layer puts on the
emulator (the 1,000- and 4,000-event batches, settings naming the stack's resources) and the
WIRE_SAMPLE: the request goes over real HTTP to the local API (built from template.yaml), the
ingest handler runs in this process, and the Richpanel sandbox records what arrived. Every
other case runs in-process through lambda_handler (tests/handlers/test_golden_handler.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from local.run import LocalStack
from richpanel_destination import runtime

from .conftest import forget
from .golden_cases import (
    CASES,
    EMULATOR,
    HANDLER,
    MAPPING,
    WIRE_SAMPLE,
    by_event_id,
    cases_in,
    encode,
    layer,
    load,
    unstamped,
)

ON_EMULATOR = cases_in(EMULATOR)
OVER_HTTP = [p for p in CASES if p.stem in WIRE_SAMPLE or p in ON_EMULATOR]


def delivered_calls(sandbox_url: str) -> list[dict[str, Any]]:
    """Calls the sandbox accepted, without the per-request stamp, sorted by eventId."""
    calls = requests.get(f"{sandbox_url}/_sandbox/calls", timeout=5).json()["calls"]
    out = []
    for record in calls:
        assert record["status"] == 200, record
        out.append(unstamped(record["call"]))
    return by_event_id(out)


def test_there_are_at_least_forty_cases() -> None:
    assert len(CASES) >= 40


def test_every_case_has_a_layer_and_the_wire_sample_exists() -> None:
    layers = {path.stem: layer(load(path)) for path in CASES}
    assert set(layers.values()) <= {MAPPING, HANDLER, EMULATOR}
    assert set(layers) >= WIRE_SAMPLE, WIRE_SAMPLE - set(layers)
    assert {name for name, where in layers.items() if where == EMULATOR} >= {
        "webhook_actions_batch_1000_events",
        "webhook_actions_batch_4000_events",
    }


@pytest.mark.integration
@pytest.mark.parametrize("path", OVER_HTTP, ids=[p.stem for p in OVER_HTTP])
def test_golden_case(local_stack: LocalStack, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = load(path)
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
    assert delivered_calls(sandbox) == by_event_id(expect["richpanel"])
