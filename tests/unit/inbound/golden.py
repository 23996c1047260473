"""The Segment events inside the golden request fixtures (tests/fixtures/golden)."""

from __future__ import annotations

import json
from pathlib import Path

GOLDEN = Path(__file__).parents[2] / "fixtures" / "golden"


def golden_events() -> list[dict[str, object]]:
    """Every event with a string type, single or from a batch, valid or not."""
    events: list[dict[str, object]] = []
    for path in sorted(GOLDEN.glob("*.json")):
        body = json.loads(path.read_text()).get("request", {}).get("body")
        items = body.get("batch") if isinstance(body, dict) and "batch" in body else body
        for item in items if isinstance(items, list) else [items]:
            if isinstance(item, dict) and isinstance(item.get("type"), str):
                events.append(item)
    return events
