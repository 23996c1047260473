"""What an operator tool needs to reach the running local stack (``make run``).

``python -m local.run --ready-file .local-stack.json`` writes the ready file once the stack is
up and removes it when the stack stops; it names the moto SQS endpoint, the queues by template
logical id and the runner's pid. moto takes any credentials: ours are "testing".
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

READY_FILE = ".local-stack.json"  # the Makefile's `make run` writes it here
ACCESS_KEY_ID = "testing"  # as local/sqs.py's FAKE_ACCESS_KEY
SECRET_ACCESS_KEY = "testing"  # as local/sqs.py's FAKE_SECRET_KEY
REGION = "us-east-1"  # local/template.py's LOCAL_REGION (not imported: it needs yaml)
# The Richpanel sandbox's development credentials (local/secrets.py's LOCAL_RICHPANEL, and
# the REST key its read-back takes); development values only.
SANDBOX_API_KEY = "local-dev-key"
SANDBOX_API_SECRET = "local-dev-secret"
SANDBOX_REST_KEY = "local-dev-rest-key"
SANDBOX_INGEST_PATH = "/v2"  # local/run.py's DEFAULT_INGEST_VERSION_PATH


class LocalStackError(Exception):
    """The local stack cannot be found from its ready file."""


@dataclass(frozen=True)
class LocalQueues:
    """The local stack's DLQ and retry queue, and its SQS endpoint."""

    dead_letter: str
    retry: str
    endpoint: str
    dead_letter_arn: str | None = None
    retry_arn: str | None = None


@dataclass(frozen=True)
class LocalSandbox:
    """The local stack's Richpanel sandbox: where to post calls and read customers back."""

    url: str
    ingest_url: str  # what the functions post to (their RICHPANEL_BASE_URL)
    api_key: str = SANDBOX_API_KEY
    api_secret: str = SANDBOX_API_SECRET
    rest_key: str = SANDBOX_REST_KEY
    signing: str = "md5"


def credentials() -> dict[str, str]:
    """boto3 client keyword arguments for the local stack's moto server."""
    return {"aws_access_key_id": ACCESS_KEY_ID, "aws_secret_access_key": SECRET_ACCESS_KEY}


def pid_alive(pid: Any) -> bool:
    """Whether the process that wrote the ready file still runs (True when it cannot tell)."""
    if not isinstance(pid, int) or pid <= 0:
        return True  # nothing to check
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ready_info(ready_file: Path) -> dict[str, Any]:
    """The ready file's contents (LocalStackError if missing or stale)."""
    if not ready_file.exists():
        raise LocalStackError(
            f"{ready_file} not found: start the local stack with `make run` (it writes the "
            "file), or give --ready-file"
        )
    info: dict[str, Any] = json.loads(ready_file.read_text(encoding="utf-8"))
    if not pid_alive(info.get("pid")):
        raise LocalStackError(f"{ready_file} is stale: the local stack (pid {info['pid']}) is gone")
    return info


def read_ready_file(ready_file: Path) -> LocalQueues:
    """The queues of the running local stack (LocalStackError if missing, stale or partial)."""
    info = _ready_info(ready_file)
    try:
        dead_letter, retry = info["queues"]["DeadLetterQueue"], info["queues"]["RetryQueue"]
        endpoint = info["sqs_endpoint"]
    except KeyError as exc:
        raise LocalStackError(f"{ready_file} has no {exc}") from exc
    arns = info.get("queue_arns") or {}
    return LocalQueues(
        dead_letter,
        retry,
        endpoint,
        dead_letter_arn=arns.get("DeadLetterQueue"),
        retry_arn=arns.get("RetryQueue"),
    )


def read_sandbox(ready_file: Path) -> LocalSandbox:
    """The running local stack's sandbox (LocalStackError if missing, stale or partial).

    Optional keys (``richpanel_base_url``, ``rest_key``, ``signing``) override the defaults.
    """
    info = _ready_info(ready_file)
    url = info.get("sandbox")
    if not isinstance(url, str) or not url:
        raise LocalStackError(f"{ready_file} has no 'sandbox'")
    url = url.rstrip("/")
    return LocalSandbox(
        url=url,
        ingest_url=str(info.get("richpanel_base_url") or url + SANDBOX_INGEST_PATH).rstrip("/"),
        rest_key=str(info.get("rest_key") or SANDBOX_REST_KEY),
        signing=str(info.get("signing") or "md5"),
    )


def read_api(ready_file: Path) -> str:
    """The running local stack's API URL (LocalStackError if missing, stale or partial)."""
    url = _ready_info(ready_file).get("api")
    if not isinstance(url, str) or not url:
        raise LocalStackError(f"{ready_file} has no 'api'")
    return url.rstrip("/")
