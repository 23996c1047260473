"""Which lines of which files a replay has finished, saved atomically.

A JSON file: per source file the line ranges done (sent and answered, filtered out, or a
bad line reported) and, once the whole file is done, ``done: true``. It is written after
every acknowledged batch (a temporary file, fsync, rename), so a crash or Ctrl-C leaves
the last good state. A rerun skips what it lists; it is the guard against sending twice
beyond idempotency's TTL (48 h). It belongs to one set of filters and one mode (send or
resend): continuing it with others is refused (start over with --restart).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

VERSION = 1


class CheckpointError(Exception):
    """The checkpoint file cannot be read, or belongs to other filters or mode."""


def merge(ranges: list[list[int]], lines: Iterable[int]) -> list[list[int]]:
    """Ranges ([first, last], inclusive) with ``lines`` added, sorted and merged."""
    spans = [list(r) for r in ranges] + [[n, n] for n in lines]
    spans.sort()
    merged: list[list[int]] = []
    for first, last in spans:
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    return merged


class Checkpoint:
    def __init__(self, path: Path | None, signature: str, mode: str) -> None:
        self.path = path
        self.data: dict[str, Any] = {
            "version": VERSION,
            "filters": signature,
            "mode": mode,
            "files": {},
        }

    @classmethod
    def load(
        cls, path: Path | None, signature: str, mode: str, *, restart: bool = False
    ) -> Checkpoint:
        """The checkpoint at ``path`` (a new one if absent or ``restart``; None: kept in memory)."""
        checkpoint = cls(path, signature, mode)
        if path is None or restart or not path.exists():
            return checkpoint
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"{path}: cannot read the checkpoint: {exc}") from exc
        if data.get("version") != VERSION or not isinstance(data.get("files"), dict):
            raise CheckpointError(f"{path}: not a replay checkpoint")
        if data.get("mode") != mode or data.get("filters") != signature:
            raise CheckpointError(
                f"{path} was written by a run with other filters or mode "
                f"({data.get('mode')}); give --restart to start over, or --checkpoint PATH"
            )
        checkpoint.data = data
        return checkpoint

    def _file(self, name: str) -> dict[str, Any]:
        files: dict[str, dict[str, Any]] = self.data["files"]
        return files.setdefault(name, {"done": False, "lines": []})

    def finished(self, name: str) -> bool:
        entry = self.data["files"].get(name)
        return bool(entry and entry.get("done"))

    def total(self, name: str) -> int:
        """How many lines (records) a file has, when it was read to its end."""
        entry = self.data["files"].get(name) or {}
        return int(entry.get("total") or 0)

    def handled(self, name: str, line: int) -> bool:
        entry = self.data["files"].get(name)
        if not entry:
            return False
        if entry.get("done"):
            return True
        return any(first <= line <= last for first, last in entry["lines"])

    def mark(self, name: str, lines: Iterable[int]) -> None:
        """These lines of ``name`` are done."""
        entry = self._file(name)
        if not entry["done"]:
            entry["lines"] = merge(entry["lines"], lines)
            self._complete(name, entry)

    def ended(self, name: str, last_line: int) -> None:
        """The whole file was read: it has ``last_line`` lines (records)."""
        entry = self._file(name)
        entry["total"] = last_line
        self._complete(name, entry)

    def _complete(self, name: str, entry: dict[str, Any]) -> None:
        total = entry.get("total")
        if total is None:
            return
        if total == 0 or entry["lines"] == [[1, total]] or _covers(entry["lines"], total):
            self.data["files"][name] = {"done": True, "total": total}

    def done_files(self) -> int:
        return sum(1 for e in self.data["files"].values() if e.get("done"))

    def save(self) -> None:
        """Write atomically: a reader (or a crash) sees the old file or the new one."""
        if self.path is None:
            return
        partial = self.path.with_name(self.path.name + ".partial")
        with partial.open("w", encoding="utf-8") as handle:
            json.dump(self.data, handle, separators=(",", ":"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, self.path)


def _covers(ranges: list[list[int]], total: int) -> bool:
    """Whether 1..total is done (blank lines have no record: they count as done)."""
    return bool(ranges) and ranges[0][0] <= 1 and ranges[-1][1] >= total and len(ranges) == 1
