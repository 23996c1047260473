"""Replay throughput (issue 20): ``python -m ops.replay`` against the local stack.

``python -m bench.run replay`` (merges into results.json, ~30 s); also part of ``make
bench``. For each of ``/t`` (RICHPANEL_BATCH_SIZE 0: one Richpanel call per event) and
``/bt`` (RICHPANEL_BATCH_SIZE 50): a fresh ``python -m local.run`` (its two API workers,
moto's DynamoDB for idempotency and freshness, moto's SQS), the sandbox answering every
Richpanel request after 50 ms (``delay_ms``), and a synthetic Segment S3 archive of
EVENTS events in FILES gzip files (tests/ops/replay/archive.py: identifies, tracks, pages
and orders of 50 customers) replayed with the CLI's defaults but no rate limit. Events per
second = events answered / the replay's own sending time (its summary's ``seconds``).
Everything shares the machine's cores: the figures are this machine's, not Lambda's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
EVENTS, FILES, DELAY_MS, BT_CHUNK = 800, 4, 50, 50
ROW = "replay "  # the rows rows() makes start so
STARTUP_SECONDS = 60


def _env(extra: dict[str, str]) -> dict[str, str]:
    paths = os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)])
    return {**os.environ, "PYTHONPATH": paths, "PYTHONUNBUFFERED": "1", **extra}


def one(batch_size: int, workdir: Path, archive: Path) -> dict[str, Any]:
    """Replay the archive into a fresh local stack whose functions use ``batch_size``."""
    from local.secrets import LOCAL_WRITE_KEY

    ready = workdir / f"ready-{batch_size}.json"
    log = (workdir / f"stack-{batch_size}.log").open("wb")
    env = _env({"RICHPANEL_BATCH_SIZE": str(batch_size)})
    command = [sys.executable, "-m", "local.run", "--api-port", "0", "--sandbox-port", "0",
               "--sqs-port", "0", "--ready-file", str(ready)]  # fmt: skip
    stack = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not ready.exists():
            if stack.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"local stack not ready; see {log.name}")
            time.sleep(0.1)
        info = json.loads(ready.read_text(encoding="utf-8"))
        requests.post(f"{info['sandbox']}/_sandbox/behaviour", json={"delay_ms": DELAY_MS},
                      timeout=5).raise_for_status()  # fmt: skip
        checkpoint = workdir / f"checkpoint-{batch_size}.json"
        done = subprocess.run(
            [sys.executable, "-m", "ops.replay", str(archive), "--url", info["api"],
             "--write-key", LOCAL_WRITE_KEY, "--rate", "0", "--no-progress",
             "--checkpoint", str(checkpoint), "--rejects", str(workdir / "rejected.jsonl")],
            cwd=workdir, env=_env({}), capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"replay failed ({done.returncode}):\n{done.stdout[-2000:]}")
        line = next(x for x in done.stdout.splitlines()[::-1] if x.startswith("json: "))
        counts = json.loads(line[len("json: ") :])
        calls = requests.get(f"{info['sandbox']}/_sandbox/calls", timeout=10).json()["calls"]
    finally:
        stack.terminate()
        try:
            stack.wait(timeout=20)
        except subprocess.TimeoutExpired:
            stack.kill()
        log.close()
    from ops.replay.sender import SETTLED

    answered = sum(counts.get(fate, 0) for fate in SETTLED)
    return {
        "batch_size": batch_size,
        "events": EVENTS,
        "answered": answered,
        "delivered": counts.get("delivered", 0),
        "queued": counts.get("queued", 0),
        "seconds": counts["seconds"],
        "events_per_s": answered / counts["seconds"],
        "richpanel_requests": len({c.get("request_seq", i) for i, c in enumerate(calls)}),
    }


def measure() -> dict[str, Any]:
    """Both runs (the /t one first), in one temporary folder."""
    sys.path[:0] = [str(ROOT / "layers" / "common"), str(ROOT)]
    from tests.ops.replay.archive import write_archive

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as folder:
        workdir = Path(folder)
        write_archive(workdir / "archive", EVENTS, FILES, run=f"bench{time.time_ns()}")
        runs = {"t": one(0, workdir, workdir / "archive"),
                "bt": one(BT_CHUNK, workdir, workdir / "archive")}  # fmt: skip
    return {"replay": {"delay_ms": DELAY_MS, "files": FILES, "runs": runs,
                       "elapsed_s": time.perf_counter() - started}}  # fmt: skip


def rows(r: dict[str, Any]) -> list[dict[str, Any]]:
    res = r.get("replay")
    if not res:
        return []
    out: list[dict[str, Any]] = []
    for key, label in (("t", "/bt off (one /t call per event)"),
                       ("bt", f"/bt on (chunks of {BT_CHUNK})")):  # fmt: skip
        run = res["runs"][key]
        out.append(
            {
                "measure": f"{ROW}throughput, Richpanel at {res['delay_ms']} ms, {label}",
                "value": run["events_per_s"],
                "unit": "ev/s",
                "target": None,
                "target_text": f"{run['events']} events, {run['richpanel_requests']} Richpanel "
                f"reqs, {run['queued']} queued",
                "met": None,
            }
        )
    return out


def table(r: dict[str, Any]) -> str:
    res = r.get("replay")
    if not res:
        return ""
    lines = [f"replay through the local stack (sandbox {res['delay_ms']} ms per request):"]
    for key in ("t", "bt"):
        run = res["runs"][key]
        lines.append(
            f"  RICHPANEL_BATCH_SIZE {run['batch_size']:>2}: {run['events_per_s']:7.1f} ev/s "
            f"({run['answered']} events in {run['seconds']:.1f} s, {run['delivered']} delivered, "
            f"{run['queued']} queued, {run['richpanel_requests']} Richpanel requests)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    result = measure()
    print(table(result))
