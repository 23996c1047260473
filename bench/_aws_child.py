"""Fresh process: what a first call in AWS adds when it reads secrets or uses the table.

boto3's import plus a Secrets Manager and a DynamoDB client (no network call).
"""

import json
import sys
import time
from pathlib import Path

T0 = time.perf_counter()
import boto3  # noqa: E402

T1 = time.perf_counter()
boto3.client("secretsmanager", region_name="us-east-1")
boto3.client("dynamodb", region_name="us-east-1")
T2 = time.perf_counter()
Path(sys.argv[1]).write_text(
    json.dumps({"import_s": T1 - T0, "clients_s": T2 - T1, "total_s": T2 - T0}), encoding="utf-8"
)
