"""python -m ops.replay against a fake ingest API (responses): fates, rejects file,
checkpoint and resume, resend, order history, dry run, errors and exit statuses."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest

from ops.replay import cli, sender
from ops.replay.sender import Pacer
from tests.ops.replay.archive import write_archive
from tests.ops.replay.fake_ingest import KEY, URL, fake_ingest


@pytest.fixture(autouse=True)
def _here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the default checkpoint and rejects file land here
    monkeypatch.setattr(sender, "BACKOFF_SECONDS", 0.0)


def run(*args: str, key: str = KEY) -> tuple[int, str, dict[str, Any]]:
    out = io.StringIO()
    argv = [*args, "--url", URL, "--write-key", key, "--rate", "0", "--no-progress"]
    status = cli.main(argv, out=out, env={})
    text = out.getvalue()
    counts = [json.loads(x[6:]) for x in text.splitlines() if x.startswith("json: ")]
    return status, text, counts[-1] if counts else {}


def test_every_event_delivered_once_then_a_rerun_sends_nothing(tmp_path: Path) -> None:
    events = write_archive(tmp_path / "a", 120, 3)
    with fake_ingest() as ingest:
        status, out, counts = run("a", "--batch-size", "25", "--concurrency", "3")
        assert status == 0, out
        assert counts["delivered"] == 120
        assert sorted(ingest.delivered) == sorted(e["messageId"] for e in events)
        assert max(len(r["batch"]) for r in ingest.requests) <= 25
        sent = len(ingest.requests)
        status, out, again = run("a")
        assert status == 0 and again.get("delivered", 0) == 0 and again["done_before"] == 120
        assert len(ingest.requests) == sent  # not even a request
        status, out, again = run(str(tmp_path / "a"))  # the same files by another path
        assert status == 0 and again["done_before"] == 120 and len(ingest.requests) == sent
        assert "summary" in out and "delivered" in out


def test_a_batch_never_holds_two_events_for_one_customer_profile(tmp_path: Path) -> None:
    lines = [{"type": "identify", "messageId": f"m{n}", "userId": "u1",
              "timestamp": f"2026-11-30T10:00:0{n}Z", "traits": {"email": f"{n}@x.io"}}
             for n in range(4)]  # fmt: skip
    (tmp_path / "x.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    with fake_ingest() as ingest:
        status, out, _ = run("x.jsonl")
    assert status == 0, out
    assert [[e["messageId"] for e in r["batch"]] for r in ingest.requests] == [
        ["m0"], ["m1"], ["m2"], ["m3"]]  # fmt: skip


def test_bad_lines_and_rejected_events_go_to_the_rejects_file(tmp_path: Path) -> None:
    good = {"type": "track", "event": "X", "userId": "u", "messageId": "ok",
            "timestamp": "2026-11-30T10:00:00Z"}  # fmt: skip
    (tmp_path / "x.jsonl").write_text(
        json.dumps(good) + "\nnot json\n" + json.dumps({"messageId": "no-type"}) + "\n"
    )
    with fake_ingest():
        status, out, counts = run("x.jsonl")
    assert status == 1, out
    assert counts["delivered"] == 1 and counts["rejected"] == 1 and counts["bad_lines"] == 1
    rejects = [json.loads(x) for x in (tmp_path / "replay-rejected.jsonl").read_text().splitlines()]
    assert [(r["at"], r["outcome"]) for r in rejects] == [("x.jsonl:2", "bad line"),
                                                        ("x.jsonl:3", "rejected")]  # fmt: skip
    assert rejects[1]["errors"][0]["message"] == "'type' is a required property"
    assert "x.jsonl:2: bad line: not JSON" in out


def test_an_unreadable_file_is_reported_and_the_run_goes_on(tmp_path: Path) -> None:
    write_archive(tmp_path / "a", 20, 2)
    data = gzip.compress(b"".join(b'{"messageId": "c%d"}\n' % n for n in range(3000)))
    (tmp_path / "a" / "zz-cut.gz").write_bytes(data[: len(data) // 3])
    with fake_ingest():
        status, out, counts = run("a")
    assert status == 1, out
    assert counts["unreadable"] == 1 and counts["delivered"] == 20
    assert "zz-cut.gz: cannot read" in out


def test_stopped_and_resumed_leaves_no_gap_and_no_duplicate(tmp_path: Path) -> None:
    events = write_archive(tmp_path / "a", 200, 4)
    with fake_ingest() as ingest:
        status, out, first = run("a", "--batch-size", "10", "--stop-after", "90")
        assert status == 0 and 0 < first["delivered"] < 200, out
        status, out, second = run("a", "--batch-size", "10")
        assert status == 0, out
        assert first["delivered"] + second["delivered"] == 200
        assert sorted(ingest.delivered) == sorted(e["messageId"] for e in events)
        assert len(set(ingest.delivered)) == 200


def test_503_with_retry_after_is_honoured_and_first_fates_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_archive(tmp_path / "a", 10, 1)
    paused: list[float] = []
    monkeypatch.setattr(Pacer, "pause", lambda self, seconds: paused.append(seconds))
    with fake_ingest() as ingest:
        ingest.answers = [(503, {"Retry-After": "2"}), (429, {"Retry-After": "1"})]
        status, out, counts = run("a")
    assert status == 0, out
    assert counts["delivered"] == 10 and paused == [2.0, 1.0]


def test_queued_answers_slow_the_replay_down(tmp_path: Path) -> None:
    write_archive(tmp_path / "a", 60, 1)
    with fake_ingest() as ingest:
        ingest.queue_every = 7
        status, out, counts = run("a", "--batch-size", "20", "--concurrency", "1")
    assert status == 0, out
    assert counts["queued"] > 0
    assert "slowed down" in out
    sizes = [len(r["batch"]) for r in ingest.requests]
    assert sizes[0] == 20 and min(sizes) < 20


def test_a_wrong_write_key_stops_at_once(tmp_path: Path) -> None:
    write_archive(tmp_path / "a", 50, 2)
    with fake_ingest() as ingest:
        status, out, counts = run("a", "--batch-size", "10", "--concurrency", "1", key="wrong")
    assert status == cli.REFUSED
    assert "answered 401" in out and "check the write key" in out
    assert ingest.delivered == [] and counts.get("delivered", 0) == 0


def test_an_unreachable_target() -> None:
    Path("x.jsonl").write_text('{"type": "track", "event": "X", "userId": "u"}\n')
    out = io.StringIO()
    status = cli.main(["x.jsonl", "--url", "http://127.0.0.1:9", "--write-key", "k",
                       "--no-progress"], out=out, env={})  # fmt: skip
    assert status == cli.UNREACHABLE
    assert "no answer after 5 tries" in out.getvalue()
    saved = json.loads(Path(".replay-checkpoint.json").read_text())
    assert not any(entry.get("done") for entry in saved["files"].values())


def test_no_local_stack_is_a_clear_usage_error(tmp_path: Path) -> None:
    Path("x.jsonl").write_text("{}\n")
    out = io.StringIO()
    status = cli.main(["x.jsonl", "--ready-file", str(tmp_path / "none.json")], out=out, env={})
    assert status == cli.USAGE
    assert "make run" in out.getvalue()


def test_resend_asks_first_and_sends_with_the_header(tmp_path: Path) -> None:
    write_archive(tmp_path / "a", 10, 1)
    with fake_ingest() as ingest:
        assert run("a")[0] == 0
        status, out, _ = run("a", "--resend")  # not a terminal: --yes is needed
        assert status == cli.USAGE and "--yes" in out and "10 events to resend" in out
        status, out, counts = run("a", "--resend", "--yes")
        assert status == 0 and counts["delivered"] == 10, out
        assert ingest.requests[-1]["headers"]["X-Replay"] == "resend"
        assert "X-Replay" not in ingest.requests[0]["headers"]
        assert Path(".replay-resend-checkpoint.json").exists()


def test_order_history_sends_only_orders_oldest_first(tmp_path: Path) -> None:
    write_archive(tmp_path / "a", 40, 2)
    # a second folder, listed first, holds the older orders
    older = [{"type": "track", "event": "Order Completed", "userId": f"old-{n}",
              "messageId": f"old-{n}", "timestamp": f"2025-01-0{n + 1}T00:00:00Z",
              "properties": {"order_id": f"old-{n}", "total": 1, "currency": "USD"}}
             for n in range(3)]  # fmt: skip
    (tmp_path / "b.jsonl").write_text("".join(json.dumps(x) + "\n" for x in older[::-1]))
    with fake_ingest() as ingest:
        status, out, counts = run("a", "b.jsonl", "--order-history", "--concurrency", "1")
    assert status == 0, out
    sent = [e for r in ingest.requests for e in r["batch"]]
    assert all(e["event"] == "Order Completed" for e in sent)
    assert [e["messageId"] for e in sent[:3]] == ["old-0", "old-1", "old-2"]
    times = [e["timestamp"] for e in sent]
    assert times == sorted(times)
    assert counts["delivered"] == 13 and counts["filtered"] == 30


def test_a_dry_run_sends_nothing_and_shows_counts_and_calls(tmp_path: Path) -> None:
    write_archive(tmp_path / "a", 8, 1)
    (tmp_path / "b.jsonl").write_text('{"messageId": "no-type"}\n')
    out = io.StringIO()
    with fake_ingest() as ingest:
        status = cli.main(["a", "b.jsonl", "--dry-run", "--sample", "1"], out=out, env={})
    text = out.getvalue()
    assert status == 1, text  # one rejected
    assert ingest.requests == []
    assert "dry run: nothing sent" in text and '"eventId": "replay-r-000000"' in text
    counts = json.loads(text.splitlines()[-1][6:])
    assert counts["to send"] == 8 and counts["rejected"] == 1
    assert not Path(".replay-checkpoint.json").exists()


def test_a_checkpoint_of_other_filters_is_refused(tmp_path: Path) -> None:
    write_archive(tmp_path / "a", 4, 1)
    with fake_ingest():
        assert run("a")[0] == 0
        status, out, _ = run("a", "--type", "identify")
    assert status == cli.USAGE and "--restart" in out
