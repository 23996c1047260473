"""The local stack's log file: every handler JSON line, stamped as CloudWatch would stamp it.

``make run`` (``python -m local.run --log-file PATH``) writes each JSON line its functions print
to PATH as well as to stdout, with ``@timestamp`` (UTC, as Logs Insights shows it) and ``@log``
(the function's logical id) added, so ops/trace and ops/audit read it as they read Logs
Insights on AWS. The file is started afresh with each stack (its queues are new too).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

# The function whose output is being written (a worker's relay thread, an inline invocation).
source: contextvars.ContextVar[str | None] = contextvars.ContextVar("log_source", default=None)


def format_timestamp(at_ms: int) -> str:
    """Epoch ms as Logs Insights shows ``@timestamp`` (accounting.format_timestamp's form)."""
    moment = datetime.fromtimestamp(at_ms / 1000, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{at_ms % 1000:03d}"


class LogFile:
    """Appends stamped JSON lines to one file, whole lines under one lock."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handle = path.open("w", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, text: str, function: str | None = None) -> None:
        """Write the JSON-object lines of text (anything else is not a handler's log line)."""
        stamp = format_timestamp(int(time.time() * 1000))
        out = []
        for line in text.splitlines():
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                where = function or source.get()
                head: dict[str, Any] = {"@timestamp": stamp}
                if where:
                    head["@log"] = where
                out.append(json.dumps(head | record, ensure_ascii=False, separators=(",", ":")))
        if out:
            with self._lock:
                self._handle.write("\n".join(out) + "\n")
                self._handle.flush()

    def close(self) -> None:
        with self._lock:
            self._handle.close()


class Tee:
    """A stdout that also writes its JSON lines to a LogFile."""

    def __init__(self, stream: IO[str], log: LogFile) -> None:
        self._stream = stream
        self._log = log

    def write(self, text: str) -> int:
        written = self._stream.write(text)
        with contextlib.suppress(OSError, ValueError):  # closed: stdout still gets the line
            self._log.write(text)
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
