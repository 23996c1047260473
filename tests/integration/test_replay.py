"""ops/replay through the local stack (issue 20): an archive of 2,000 events in 5 gzip files
(Segment's S3 destination layout) goes in; each event reaches the Richpanel sandbox exactly
once, across a dry run (no call), a run stopped by Ctrl-C halfway and resumed from its
checkpoint (no gap, no duplicate), and reruns (no new call: the checkpoint skips it all,
and without it idempotency answers duplicate)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from local.secrets import LOCAL_WRITE_KEY
from tests.ops.replay.archive import write_archive

from .conftest import REPO_ROOT, Stack

TOTAL, FILES = 2_000, 5


def replay(
    stack: Stack, workdir: Path, *args: str, source: str = "archive"
) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "layers" / "common"),
                                                         str(REPO_ROOT)])}  # fmt: skip
    command = [sys.executable, "-m", "ops.replay", source, "--url", stack.api,
               "--write-key", LOCAL_WRITE_KEY, "--rate", "0", "--no-progress", *args]  # fmt: skip
    return subprocess.Popen(command, cwd=workdir, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip


def finish(process: subprocess.Popen[str]) -> tuple[int, str, dict[str, Any]]:
    out, _ = process.communicate(timeout=120)
    counts = [json.loads(line[6:]) for line in out.splitlines() if line.startswith("json: ")]
    return process.returncode, out, counts[-1] if counts else {}


def lines_done(checkpoint: Path) -> int:
    try:
        files = json.loads(checkpoint.read_text())["files"].values()
    except (OSError, ValueError):
        return 0
    return sum(e.get("total", 0) if e.get("done") else sum(b - a + 1 for a, b in e["lines"])
               for e in files)  # fmt: skip


def delivered_ids(stack: Stack) -> Counter[str]:
    return Counter(entry["call"]["eventId"] for entry in stack.sandbox_calls(status=200))


def test_backfill_interrupted_resumed_and_rerun_delivers_each_event_once(
    stack: Stack, tmp_path: Path
) -> None:
    events = write_archive(tmp_path / "archive", TOTAL, FILES, run=f"e2e{time.time_ns()}")
    assert len(list((tmp_path / "archive").rglob("*.gz"))) == FILES

    status, out, counts = finish(replay(stack, tmp_path, "--dry-run"))
    assert status == 0, out
    assert counts == {"to send": TOTAL, "bad_lines": 0, "filtered": 0, "done_before": 0,
                      "unreadable": 0}  # fmt: skip
    assert stack.sandbox_calls() == []  # a dry run calls nothing

    checkpoint = tmp_path / ".replay-checkpoint.json"
    process = replay(stack, tmp_path, "--rate", "300")  # >= 6.7 s: room for a Ctrl-C halfway
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and lines_done(checkpoint) < TOTAL // 2:
        time.sleep(0.2)  # the checkpoint, not the sandbox: reading that costs the stack CPU
    process.send_signal(signal.SIGINT)  # Ctrl-C halfway
    status, out, first = finish(process)
    assert status == 130, out
    assert 0 < first.get("delivered", 0) < TOTAL, out
    saved = json.loads(checkpoint.read_text())
    assert not all(entry.get("done") for entry in saved["files"].values())

    status, out, second = finish(replay(stack, tmp_path))  # resumed from the checkpoint
    assert status == 0, out
    assert first["delivered"] + second["delivered"] == TOTAL, out
    assert second["done_before"] == first["delivered"]
    ids = delivered_ids(stack)
    assert set(ids) == {e["messageId"] for e in events}  # no gap
    assert max(ids.values()) == 1  # no duplicate

    status, out, third = finish(replay(stack, tmp_path))  # a full rerun: nothing left to send
    assert status == 0 and third.get("delivered", 0) == 0, out
    assert third["done_before"] == TOTAL
    first_file = str(sorted((tmp_path / "archive").rglob("*.gz"))[0])
    status, out, fourth = finish(replay(stack, tmp_path, "--checkpoint", "other.json",
                                        source=first_file))  # fmt: skip
    assert status == 0, out  # without the checkpoint: idempotency, within its TTL
    assert fourth.get("duplicate") == TOTAL // FILES and not fourth.get("delivered"), out
    assert sum(delivered_ids(stack).values()) == TOTAL  # no new Richpanel call


def test_resend_delivers_again_with_the_same_event_id_but_never_older_data(
    stack: Stack, tmp_path: Path
) -> None:
    events = write_archive(tmp_path / "archive", 120, 2, run=f"rs{time.time_ns()}")
    status, out, first = finish(replay(stack, tmp_path))
    assert status == 0 and first["delivered"] == 120, out

    status, out, _ = finish(replay(stack, tmp_path, "--resend"))  # not a terminal
    assert status == 2 and "--yes" in out, out
    assert sum(delivered_ids(stack).values()) == 120

    status, out, resent = finish(replay(stack, tmp_path, "--resend", "--yes"))
    assert status == 0, out
    # an identify (n) whose customer has a newer one (n + 100) is older than Richpanel's data
    older = {e["messageId"] for n, e in enumerate(events) if n % 4 == 0 and n + 100 < 120}
    assert len(older) == 5
    assert (resent["delivered"], resent["superseded"]) == (115, 5), out
    ids = delivered_ids(stack)
    assert {i for i, c in ids.items() if c == 1} == older  # never sent again
    assert {i for i, c in ids.items() if c == 2} == {e["messageId"] for e in events} - older
