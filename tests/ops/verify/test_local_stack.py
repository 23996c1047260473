"""verify end to end against the local stack started in this process (its sandbox's read-back)."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.run import LocalStack
from local.template import Template
from ops.verify import cli as verify_cli
from richpanel_destination import runtime

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ready_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The local stack (as tests/functions/conftest.py starts it) and its ready file."""
    saved = dict(os.environ)
    runtime.reset()
    local = LocalStack(Template.load(), api_port=0, sandbox_port=0, environ={})
    try:
        local.start()
        path = tmp_path_factory.mktemp("verify") / "ready.json"
        path.write_text(json.dumps(local.ready_info()), encoding="utf-8")
        yield path
    finally:
        local.stop()
        os.environ.clear()
        os.environ.update(saved)
        runtime.reset()


def verify(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    out = io.StringIO()
    code = verify_cli.main(["--interval", "0.1", *argv], out=out, env=env or {})
    return code, out.getvalue()


def rows(output: str) -> dict[str, str]:
    """The table's rows by field label: the rest of the line."""
    labels = ("trait verifyMarker", "track eventId", "page eventId", "order id")
    return {
        label: line[len(label) :]
        for line in output.splitlines()
        for label in labels
        if line.startswith(label)
    }


def test_identify_track_and_page_arrive_through_the_sandbox(ready_file: Path) -> None:
    code, output = verify("--ready-file", str(ready_file), "--timeout", "3")

    table = rows(output)
    for label in ("trait verifyMarker", "track eventId", "page eventId"):
        assert " arrived " in table[label], output
    assert "local-dev-key" not in output and "local-dev-rest-key" not in output
    assert code in (verify_cli.ARRIVED, verify_cli.NEVER_ARRIVED), output


def test_everything_arrives_exit_0(ready_file: Path) -> None:
    code, output = verify("--ready-file", str(ready_file), "--timeout", "3")

    assert code == verify_cli.ARRIVED, output
    assert "all arrived" in output


def test_a_wrong_api_key_is_accepted_but_never_arrives(ready_file: Path) -> None:
    sandbox = json.loads(ready_file.read_text(encoding="utf-8"))["sandbox"]
    env = {
        "RICHPANEL_BASE_URL": f"{sandbox}/v2",
        "RICHPANEL_API_KEY": "not-the-local-key",
        "RICHPANEL_API_SECRET": "local-dev-secret",
        "RICHPANEL_REST_URL": sandbox,
        "RICHPANEL_REST_KEY": "local-dev-rest-key",
    }

    code, output = verify("--timeout", "1", env=env)

    assert code == verify_cli.NEVER_ARRIVED, output
    assert "Richpanel answered 200" in output  # the sandbox drops it, as Richpanel does
    assert "accepted but never arrived: check the API key" in output
    for secret in ("not-the-local-key", "local-dev-secret", "local-dev-rest-key"):
        assert secret not in output
