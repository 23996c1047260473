"""Init as Lambda loads the built artifact: python3.12, read-only, every file dated 1980.

Measured: the handler module's import plus the first event's validation.

A copy of .aws-sam/host/build's function and layer (`make build-host`; .aws-sam/build is
the arm64 artifact, whose compiled modules an x86_64 host cannot load), as built
(unchecked-hash .pyc) and with the bytecode removed (what SAM's python3.12 builder ships),
each file dated 1980-01-01 as the zip `sam deploy` uploads does; ``python3.12 -I -S -B``
imports the handler module.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / ".aws-sam" / "host" / "build"
EPOCH_1980 = 315532800
# the handler module, then the first event's validation (its schema's fast check)
PROBE = (
    "import sys, time; sys.path[:0] = sys.argv[1:3]; t = time.perf_counter(); import app; "
    "from richpanel_destination.inbound.validate import validate_event; "
    "assert not validate_event({'type': 'track', 'userId': 'u', 'event': 'E'}); "
    "print(time.perf_counter() - t)"
)
ENV = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "LANG": "C.UTF-8",
}


def python312() -> str | None:
    found = os.environ.get("PYTHON312") or shutil.which("python3.12")
    return found if found and Path(found).exists() else None


def _copy(tree: Path, bytecode: bool) -> None:
    for function in ("IngestFunction", "RetryFunction"):
        shutil.copytree(BUILD / function, tree / function)
    shutil.copytree(BUILD / "CommonLayer" / "python", tree / "opt")
    if not bytecode:
        for cache in list(tree.rglob("__pycache__")):
            shutil.rmtree(cache)
    for path in [*tree.rglob("*"), tree]:
        os.utime(path, (EPOCH_1980, EPOCH_1980), follow_symlinks=False)


def _import_s(python: str, function_dir: Path, layer: Path) -> float:
    done = subprocess.run(
        [python, "-I", "-S", "-B", "-c", PROBE, str(function_dir), str(layer)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def measure(runs: int = 5) -> dict[str, Any] | None:
    """Median handler import per function, with and without the shipped bytecode."""
    python = python312()
    if python is None or not (BUILD / "template.yaml").exists():
        return None
    out: dict[str, Any] = {"runs": runs}
    for label, bytecode in (("bytecode", True), ("no_bytecode", False)):
        with tempfile.TemporaryDirectory() as tmp:
            tree = Path(tmp) / "artifact"
            _copy(tree, bytecode)
            for function in ("IngestFunction", "RetryFunction"):
                times = [_import_s(python, tree / function, tree / "opt") for _ in range(runs)]
                out[f"{function}_{label}_s"] = statistics.median(times)
    return out
