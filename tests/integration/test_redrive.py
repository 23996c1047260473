"""Redrive over the running local stack: DLQ messages go back to the retry queue and arrive.

The redrive command runs as a subprocess, as an operator would run it, against the stack's
moto server (which lacks StartMessageMoveTask, so the command moves the messages itself).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULE = "ops.redrive"  # run from the repository root (cwd), with the layer on PYTHONPATH


def track() -> dict[str, Any]:
    return {
        "userId": "user-7",
        "messageId": f"redrive-{uuid.uuid4()}",
        "event": "Order Completed",
        "properties": {"order_id": "o-1", "total": 30},
    }


def dead_letter_tracks(stack: Any, count: int) -> list[str]:
    """Post `count` tracks while the sandbox answers 400: each is dead-lettered at ingest."""
    requests.post(
        f"{stack.sandbox}/_sandbox/behaviour", json={"status": 400, "times": count}, timeout=5
    ).raise_for_status()
    ids = []
    for _ in range(count):
        event = track()
        response = stack.http.post(f"{stack.api}/v1/track", json=event, timeout=10)
        assert response.status_code == 200, response.text
        result = response.json()["results"][0]
        assert (result["outcome"], result["richpanelStatus"]) == ("dead_lettered", 400)
        ids.append(event["messageId"])
    assert stack.queue_counts("DeadLetterQueue")["visible"] == count
    return ids


def redrive(stack: Any, *args: str, endpoint: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the command line; with endpoint, against the stack's queues by URL."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AWS_") and name not in ("DEAD_LETTER_QUEUE_URL", "RETRY_QUEUE_URL")
    }
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        PYTHONPATH=os.pathsep.join(
            [str(REPO_ROOT / "layers" / "common"), *filter(None, [env.get("PYTHONPATH")])]
        ),
    )
    command = [sys.executable, "-m", MODULE]
    if endpoint:
        env["AWS_ENDPOINT_URL"] = stack.sqs_endpoint
        command += [
            "--source",
            stack.queues["DeadLetterQueue"],
            "--destination",
            stack.queues["RetryQueue"],
        ]
    return subprocess.run(
        [*command, *args], env=env, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT
    )


def accepted(stack: Any) -> dict[str, int]:
    response = requests.get(f"{stack.sandbox}/_sandbox/accepted", timeout=5)
    response.raise_for_status()
    return dict(response.json()["accepted"])


def delivered_once(stack: Any, ids: list[str]) -> bool:
    counts = accepted(stack)
    return (
        all(counts.get(i) == 1 for i in ids)
        and stack.queue_total("RetryQueue") == 0
        and stack.queue_total("DeadLetterQueue") == 0
    )


def test_dead_lettered_messages_go_back_and_are_delivered_once(stack: Any, wait_for: Any) -> None:
    ids = dead_letter_tracks(stack, 3)
    assert accepted(stack) == {}

    done = redrive(stack)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "no StartMessageMoveTask here" in done.stdout  # moto's server: moved by hand
    assert "moved 3, failed 0, left 0" in done.stdout
    assert any(
        line.split()[:3] == ["3", "0", "0"] and "Richpanel answered 400" in line
        for line in done.stdout.splitlines()
    ), done.stdout
    wait_for(lambda: delivered_once(stack, ids), timeout=30, what="each messageId accepted once")
    assert {i: n for i, n in accepted(stack).items() if i in ids} == dict.fromkeys(ids, 1)


def test_dry_run_counts_reasons_and_leaves_the_dlq_as_it_was(stack: Any) -> None:
    dead_letter_tracks(stack, 2)

    done = redrive(stack, "--dry-run")

    assert done.returncode == 0, done.stdout + done.stderr
    assert any(
        line.split()[:2] == ["2", "0"] and "Richpanel answered 400" in line
        for line in done.stdout.splitlines()
    ), done.stdout
    assert "dry run: would move 2, leave 0; moved none" in done.stdout
    assert stack.queue_counts("DeadLetterQueue") == {"visible": 2, "in_flight": 0, "delayed": 0}
    assert stack.queue_total("RetryQueue") == 0
    assert accepted(stack) == {}


def test_a_status_no_reason_names_moves_nothing(stack: Any) -> None:
    dead_letter_tracks(stack, 2)

    done = redrive(stack, "--status", "503")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "moved 0, failed 0, left 2" in done.stdout
    assert stack.queue_counts("DeadLetterQueue") == {"visible": 2, "in_flight": 0, "delayed": 0}
    assert stack.queue_total("RetryQueue") == 0


def test_local_reads_the_ready_file_and_limit_moves_that_many(
    stack: Any, wait_for: Any, tmp_path: Path
) -> None:
    ids = dead_letter_tracks(stack, 3)
    ready = tmp_path / "ready.json"
    ready.write_text(
        json.dumps(
            {"sqs_endpoint": stack.sqs_endpoint, "queues": stack.queues, "pid": stack.process.pid}
        )
    )

    done = redrive(stack, "--local", "--ready-file", str(ready), "--limit", "1", endpoint=False)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "moved 1, failed 0" in done.stdout
    wait_for(lambda: sum(accepted(stack).values()) == 1, timeout=30, what="one delivery")
    wait_for(lambda: stack.queue_total("RetryQueue") == 0, timeout=30, what="retry queue empty")
    (delivered,) = accepted(stack)
    assert delivered in ids
    assert stack.queue_counts("DeadLetterQueue")["visible"] == 2
