"""Schemathesis against docs/openapi.yaml, over HTTP to the local stack (`python -m local.run`).

Schemathesis generates requests from the document (valid bodies and, in its negative mode,
bodies that break the schemas) for every operation and sends them to the local API with the
local write key. Every answer must not be a server error, and must be what the document says:
a documented status code, its content type, its headers and its schema.

Each operation runs FUZZ examples (the profile in conftest.py: few by default, many for
`make fuzz`); the stack is started once for the module, as tests/integration starts it.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from local.secrets import LOCAL_WRITE_KEY
from tests.integration.conftest import (
    REPO_ROOT,
    STARTUP_TIMEOUT_SECONDS,
    _child_environment,
    _tail,
)
from tests.processes import stop

from .conftest import HTTP_TALLY, PROFILE

pytestmark = pytest.mark.integration

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
AUTHORIZATION = "Basic " + base64.b64encode(f"{LOCAL_WRITE_KEY}:".encode()).decode()
# Not negative_data_rejection / positive_data_acceptance: a batch answers 200 with invalid
# items `rejected` (documented), and the document cannot express every rule (one of userId
# or anonymousId), so schema-valid is not always acceptable and invalid not always a 4xx.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# what local/api.py serves; the others never reach the handler
LOCAL_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
EXAMPLES_PER_OPERATION = 400 if PROFILE == "long" else 12


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m local.run` on free ports, as tests/integration starts it; its API base URL.

    Its own process, stopped after this module (the integration tests' stack is theirs).
    """
    workdir = tmp_path_factory.mktemp("fuzz-stack")
    ready_file, log_path = workdir / "ready.json", workdir / "stack.log"
    command = [sys.executable, "-m", "local.run", "--ready-file", str(ready_file)]
    command += ["--api-port", "0", "--sandbox-port", "0", "--sqs-port", "0"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=_child_environment(), stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not ready_file.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the local stack did not start; log {log_path}:\n{_tail(log_path)}")
            time.sleep(0.1)
        yield str(json.loads(ready_file.read_text(encoding="utf-8"))["api"])
    finally:
        stop(process)


schema = schemathesis.openapi.from_path(OPENAPI)
# The coverage phase (boundary and negative values of every schema keyword, ~380 requests per
# operation whatever max_examples says) runs under `make fuzz` only.
schema.config.phases.update(
    phases=["examples", "coverage", "fuzzing"] if PROFILE == "long" else ["examples", "fuzzing"]
)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=PROFILE != "long",
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_as_documented(case: schemathesis.Case, api: str) -> None:
    if case.method.upper() not in LOCAL_METHODS:
        # Schemathesis probes undocumented methods (TRACE, QUERY); the local stand-in for API
        # Gateway is Python's http.server, which answers those itself with 501.
        return
    response = case.call(base_url=api, headers={"Authorization": AUTHORIZATION}, timeout=30)
    HTTP_TALLY.count(response.status_code, crashed=False)
    case.validate_response(response, checks=CHECKS)
