"""Runs one built function's handler on sample events, the way the Lambda runtime would.

Started by test_artifact.py as `python3.12 -I -S lambda_driver.py OUT FUNCTION_DIR LAYER_DIR
RUNTIME_DIR EVENT...`: no site-packages at all, then sys.path = the built function folder
(/var/task), the built layer's python/ folder (/opt/python) and a folder holding only boto3
and its dependencies (/var/runtime, which the python3.12 runtime provides). Writes a JSON
report to OUT (stdout carries the handlers' log lines).
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback
from pathlib import Path


class Context:
    """The attributes Powertools reads from the Lambda context object."""

    function_name = "artifact-test"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:artifact-test"
    memory_limit_in_mb = 256
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/artifact-test"
    log_stream_name = "artifact-test"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


def main() -> None:
    out, function_dir, layer_dir, runtime_dir, *events = sys.argv[1:]
    stdlib = list(sys.path)
    sys.path[:0] = [function_dir, layer_dir, runtime_dir]
    report: dict[str, object] = {"sys_path": list(sys.path), "stdlib": stdlib, "results": {}}
    results: dict[str, object] = {}
    report["results"] = results
    try:
        app = importlib.import_module("app")
        report["app_file"] = app.__file__
        for path in events:
            event = json.loads(Path(path).read_text())
            try:
                results[Path(path).name] = {"answer": app.lambda_handler(event, Context())}
            except BaseException:  # the test reports it: a handler must not raise
                results[Path(path).name] = {"error": traceback.format_exc()}
    except BaseException:
        report["import_error"] = traceback.format_exc()
    report["modules"] = {
        name: getattr(module, "__file__", None)
        for name, module in list(sys.modules.items())
        if getattr(module, "__file__", None)
    }
    Path(out).write_text(json.dumps(report, default=str))


if __name__ == "__main__":
    main()
