"""Fresh process, the eager baseline: the heavy dependencies imported at module level."""

import time

T0 = time.perf_counter()

import boto3  # noqa: E402,F401
import jsonschema  # noqa: E402,F401
import requests  # noqa: E402,F401
from aws_lambda_powertools import Logger, Metrics, Tracer  # noqa: E402,F401
from aws_lambda_powertools.event_handler import APIGatewayRestResolver  # noqa: E402,F401
from aws_lambda_powertools.utilities import parameters  # noqa: E402,F401
from aws_lambda_powertools.utilities.batch import BatchProcessor  # noqa: E402,F401
from aws_lambda_powertools.utilities.idempotency import idempotent  # noqa: E402,F401

T1 = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

Path(sys.argv[1]).write_text(json.dumps({"import_s": T1 - T0, "total_s": T1 - T0}), "utf-8")
