"""A synthetic Segment S3 destination archive: segment-logs/<source>/<day>/<time>.<id>.gz,
gzip JSON lines, as Segment writes it (its extra fields included)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SOURCE_ID = "src-replay-test"
START = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def iso(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event(n: int, run: str = "r") -> dict[str, Any]:
    """The n-th event: identifies, tracks, pages and orders for 50 customers, a second apart."""
    when = START + timedelta(seconds=n)
    user = f"replay-{run}-user-{n % 50}"
    base: dict[str, Any] = {
        "messageId": f"replay-{run}-{n:06d}",
        "userId": user,
        "timestamp": iso(when),
        "originalTimestamp": iso(when),
        "sentAt": iso(when + timedelta(milliseconds=20)),
        "receivedAt": iso(when + timedelta(milliseconds=90)),
        "projectId": SOURCE_ID,
        "version": 2,
        "channel": "server",
        "context": {"library": {"name": "analytics-python", "version": "2.3.3"}},
        "integrations": {},
    }
    kind = n % 4
    if kind == 0:
        return base | {"type": "identify",
                       "traits": {"email": f"{user}@example.com", "plan": f"p{n}"}}  # fmt: skip
    if kind == 1:
        return base | {"type": "track", "event": "Product Viewed",
                       "properties": {"sku": f"sku-{n}"}}  # fmt: skip
    if kind == 2:
        return base | {"type": "page", "name": "Home", "properties": {"url": "https://x.io/"}}
    return base | {"type": "track", "event": "Order Completed",
                   "properties": {"order_id": f"o-{run}-{n}", "total": 10 + n % 7,
                                  "currency": "USD", "status": "completed"}}  # fmt: skip


def write_archive(root: Path, total: int, files: int, run: str = "r") -> list[dict[str, Any]]:
    """``total`` events over ``files`` gzip files under root/segment-logs/...; the events."""
    events = [event(n, run) for n in range(total)]
    per = -(-total // files)
    for f in range(files):
        chunk = events[f * per : (f + 1) * per]
        if not chunk:
            break
        day = chunk[0]["timestamp"][:10]
        stamp = int(datetime.fromisoformat(chunk[0]["timestamp"]).timestamp() * 1000)
        folder = root / "segment-logs" / SOURCE_ID / day
        folder.mkdir(parents=True, exist_ok=True)
        with gzip.open(folder / f"{stamp}.{f:04d}.gz", "wt", encoding="utf-8") as handle:
            for item in chunk:
                handle.write(json.dumps(item) + "\n")
    return events
