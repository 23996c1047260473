"""Helpers for tests that start `python -m local.run` as a child process."""

from __future__ import annotations

import subprocess


def stop(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    """Terminate a child (SIGTERM, 20 s to exit), then kill it if it is still there."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
