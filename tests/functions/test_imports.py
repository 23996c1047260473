"""What a cold start loads: the handlers import neither boto3 nor the X-Ray SDK up front."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import importlib.util, json, os, sys
os.environ.update({"POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1",
                   "POWERTOOLS_SERVICE_NAME": "probe", "POWERTOOLS_METRICS_NAMESPACE": "Probe"})
for name in ("ingest", "retry"):
    spec = importlib.util.spec_from_file_location(name, f"functions/{name}/app.py")
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
# Powertools' user-agent hook imports the bare botocore package (0.5 ms): not counted.
print(json.dumps(sorted(m for m in sys.modules if m != "botocore" and m.split(".")[0] in
      ("boto3", "botocore", "aws_xray_sdk", "jsonschema", "s3transfer"))))
"""


def test_handler_modules_load_without_boto3_xray_or_jsonschema() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT / 'layers' / 'common'}", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
