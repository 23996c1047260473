"""ops/replay/checkpoint.py and filters.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ops.replay.checkpoint import Checkpoint, CheckpointError, merge
from ops.replay.filters import Filters, is_order, split_values


def test_merge_keeps_sorted_disjoint_ranges() -> None:
    assert merge([], [3, 1, 2]) == [[1, 3]]
    assert merge([[1, 3]], [5, 6]) == [[1, 3], [5, 6]]
    assert merge([[1, 3], [5, 6]], [4]) == [[1, 6]]


def test_a_file_is_done_once_every_line_is_and_it_was_read_to_the_end(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    cp = Checkpoint(path, "sig", "send")
    cp.mark("f", [3, 4])
    cp.mark("f", [1])
    assert cp.handled("f", 3) and not cp.handled("f", 2) and not cp.finished("f")
    cp.ended("f", 4)
    assert not cp.finished("f")
    cp.mark("f", [2])
    assert cp.finished("f") and cp.total("f") == 4
    cp.save()
    again = Checkpoint.load(path, "sig", "send")
    assert again.finished("f") and again.handled("f", 99)
    assert not (tmp_path / "cp.json.partial").exists()


def test_a_checkpoint_of_other_filters_or_mode_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    Checkpoint(path, "sig", "send").save()
    with pytest.raises(CheckpointError, match="--restart"):
        Checkpoint.load(path, "other", "send")
    with pytest.raises(CheckpointError):
        Checkpoint.load(path, "sig", "resend")
    assert Checkpoint.load(path, "other", "send", restart=True).data["files"] == {}
    path.write_text("{broken")
    with pytest.raises(CheckpointError, match="cannot read"):
        Checkpoint.load(path, "sig", "send")
    path.write_text(json.dumps({"files": []}))
    with pytest.raises(CheckpointError, match="not a replay checkpoint"):
        Checkpoint.load(path, "sig", "send")


def event(**fields: object) -> dict[str, object]:
    return {"type": "track", "event": "Viewed", "userId": "u1",
            "timestamp": "2026-11-30T10:00:00Z"} | fields  # fmt: skip


def test_filters() -> None:
    assert Filters().keep(event())
    assert not Filters(types=frozenset({"identify"})).keep(event())
    assert Filters(events=frozenset({"Viewed"})).keep(event())
    assert not Filters(user_ids=frozenset({"u2"})).keep(event())
    since = datetime(2026, 11, 30, 10, tzinfo=UTC)
    assert Filters(since=since).keep(event())  # inclusive
    assert not Filters(until=since).keep(event())  # exclusive
    assert not Filters(since=since).keep(event(timestamp=None))  # no time: not in a range
    assert Filters(since=since).keep(event(timestamp=None, receivedAt="2026-11-30T11:00:00Z"))
    orders = Filters(orders_only=True)
    assert orders.keep(event(event="Order Completed")) and not orders.keep(event())
    assert is_order(event(event=" order cancelled ")) and not is_order({"type": "identify"})
    assert Filters().signature() != orders.signature()
    assert split_values(["a,b", "c"]) == {"a", "b", "c"}
