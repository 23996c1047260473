"""The local stack's log file: JSON lines stamped with @timestamp and @log, the rest left out."""

from __future__ import annotations

import io
import json
from pathlib import Path

from local import logfile


def test_json_lines_are_stamped_and_named_and_other_output_is_not_kept(tmp_path: Path) -> None:
    log = logfile.LogFile(tmp_path / "sub" / "logs.jsonl")
    out = io.StringIO()
    tee = logfile.Tee(out, log)
    token = logfile.source.set("RetryFunction")
    try:
        tee.write('{"level":"INFO","message":"event outcome","messageId":"m-1"}\n')
        tee.write("a banner line\n[1, 2]\n")
    finally:
        logfile.source.reset(token)
    log.write('{"message":"retry later"}\n', function="IngestFunction")
    log.close()
    tee.write('{"message":"after close"}\n')  # stdout still gets it

    assert out.getvalue().count("\n") == 4
    records = [
        json.loads(line)
        for line in (tmp_path / "sub" / "logs.jsonl").read_text().split("\n")
        if line
    ]
    assert [(r["@log"], r["message"]) for r in records] == [
        ("RetryFunction", "event outcome"),
        ("IngestFunction", "retry later"),
    ]
    assert list(records[0])[:2] == ["@timestamp", "@log"]
    assert len(records[0]["@timestamp"]) == len("2026-12-02 03:04:05.678")
