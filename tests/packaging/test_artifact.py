"""The artifact `sam build` makes is what runs: import and invoke it as Lambda would.

Run by `make build-test` (which builds first and sets REQUIRE_ARTIFACT=1). Under a bare
`pytest` the module skips when .aws-sam/build or .aws-sam/host/build is missing or older
than the sources. What ships is .aws-sam/build (arm64): its contents are checked here, its
machine code in test_arm64.py. The handlers run from .aws-sam/host/build (`make build-host`:
the same build with the layer's wheels for this machine's CPU, since an x86_64 host cannot
load the arm64 layer's compiled modules; test_arm64.py checks the two differ in nothing else).
Each built function runs in a fresh `python3.12 -I -S` (lambda_driver.py) whose sys.path
holds only the built function folder, the built layer's python/ folder and a boto3-only
folder standing in for the runtime's (LAMBDA_RUNTIME, made by the Makefile): a module the
layer forgot fails here with the ImportError it would raise in Lambda.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.packaging.builds import BUILD, HOST_BUILD, ROOT, not_built

LAYER = BUILD / "CommonLayer" / "python"
HOST_LAYER = HOST_BUILD / "CommonLayer" / "python"
EVENTS = sorted((ROOT / "events").glob("*.json"))
RETRY_EVENTS = [e for e in EVENTS if e.name == "retry_sqs.json"]
INGEST_EVENTS = [e for e in EVENTS if e.name != "retry_sqs.json"]
SKIPPED_ONLY = {"alias.json", "group.json", "screen.json"}
DRIVER = Path(__file__).resolve().with_name("lambda_driver.py")
UNREACHABLE = "http://127.0.0.1:9"


def _python312() -> str:
    """$PYTHON312 (the Makefile's), else pyenv's 3.12.1, else a python3.12 on PATH that runs."""
    prefix = (
        subprocess.run(
            ["pyenv", "prefix", "3.12.1"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if shutil.which("pyenv")
        else ""
    )
    found = [os.environ.get("PYTHON312"), prefix and f"{prefix}/bin/python3.12"]
    for candidate in [*found, shutil.which("python3.12")]:
        if candidate and subprocess.run([candidate, "-V"], capture_output=True).returncode == 0:
            return candidate
    return ""


PYTHON312 = _python312()
RUNTIME = Path(os.environ.get("LAMBDA_RUNTIME") or ROOT / ".sam-venv" / "lambda-runtime").resolve()


def _not_ready() -> str | None:
    if reason := not_built():
        return reason
    if not PYTHON312:
        return "no python3.12 (PYTHON312): run `make build-test`"
    if not (RUNTIME / "boto3").is_dir():
        return f"no boto3 in {RUNTIME}: run `make build-test`"
    return None


_reason = _not_ready()
if _reason:
    if os.environ.get("REQUIRE_ARTIFACT") == "1":
        raise RuntimeError(_reason)
    pytest.skip(_reason, allow_module_level=True)


ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "LANG": "C.UTF-8",
    "INBOUND_AUTH": "none",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "RichpanelDestination",
    "POWERTOOLS_SERVICE_NAME": "richpanel-destination",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "RICHPANEL_BASE_URL": f"{UNREACHABLE}/v2",
    # A secret that cannot be read (AWS_ENDPOINT_URL below): the Secrets Manager call runs.
    "RICHPANEL_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:richpanel-AbCdEf",
    "INBOUND_SECRET_ARN": "",
    "RETRY_QUEUE_URL": "",
    "DEAD_LETTER_QUEUE_URL": "",
    "IDEMPOTENCY_TABLE": "",
    "DELIVERY_BUDGET_SECONDS": "2",
    "RICHPANEL_CONNECT_TIMEOUT_SECONDS": "0.5",
    "RICHPANEL_READ_TIMEOUT_SECONDS": "0.5",
    # Belt and braces: any AWS call goes to a closed port with fake credentials.
    "AWS_ENDPOINT_URL": UNREACHABLE,
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_MAX_ATTEMPTS": "1",
}


def _invoke(function: str, events: list[Path], tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / f"{function}.json"
    command = [PYTHON312, "-I", "-S", str(DRIVER), str(out)]
    command += [str(HOST_BUILD / function), str(HOST_LAYER), str(RUNTIME), *map(str, events)]
    done = subprocess.run(
        command, env=ENV, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(out.read_text())
    assert "import_error" not in report, report["import_error"]
    return report


def _assert_isolated(report: dict[str, Any], function: str) -> None:
    """Every module came from the stdlib, the built function, the layer or the boto3 folder."""
    assert report["app_file"] == str(HOST_BUILD / function / "app.py")
    allowed = [str(HOST_BUILD / function), str(HOST_LAYER), str(RUNTIME), *report["stdlib"]]
    strays = {
        name: where
        for name, where in report["modules"].items()
        if where != str(DRIVER) and not any(where.startswith(root) for root in allowed if root)
    }
    assert not strays
    repo_venv = str(ROOT / ".venv")
    assert not [p for p in report["sys_path"] if p.startswith(repo_venv) or "site-packages" in p]
    layer_modules = {n: w for n, w in report["modules"].items() if w.startswith(str(HOST_LAYER))}
    # jsonschema is imported only to explain a refused event; the samples are all valid
    for package in ("richpanel_destination", "aws_lambda_powertools", "fastjsonschema", "requests"):
        assert package in layer_modules, f"{package} was not imported from the layer"


def test_layer_contents() -> None:
    for package in (
        "jsonschema",
        "fastjsonschema",
        "requests",
        "aws_lambda_powertools",
        "richpanel_destination",
    ):
        assert (LAYER / package / "__init__.py").is_file(), package
    sources = ROOT / "layers" / "common" / "richpanel_destination"
    schemas = sorted(p.relative_to(sources) for p in sources.rglob("schemas/*.json"))
    assert schemas, "no schemas in the source tree"
    package = LAYER / "richpanel_destination"
    built = sorted(p.relative_to(package) for p in package.rglob("*.json"))
    assert set(schemas) <= set(built)
    # The functions ship only their handler; everything else comes from the layer.
    for function in ("IngestFunction", "RetryFunction", "CanaryFunction", "AuditFunction"):
        assert (BUILD / function / "app.py").is_file()


# What only the operator tools (ops/) and the local stack (local/) know: none of it ships.
OPERATOR_ONLY = re.compile(
    r"^\s*(?:from|import)\s+(?:ops|local)\b"  # the operator package, the local stack
    r"|ops\.redrive|python -m ops\b|delivery\.redrive"  # the redrive CLI
    r"|start_message_move_task|StartMessageMoveTask|list_message_move_tasks"
    r"|\.local-stack\.json|local-stack|ready[ _-]file"  # the local stack's ready file
    r"|aws_(?:access_key_id|secret_access_key)\s*=|[\"']testing[\"']",  # its credentials
    re.MULTILINE | re.IGNORECASE,
)


def test_the_artifact_has_no_operator_tools_and_no_local_stack_knowledge() -> None:
    """ops/ and local/ stay in the repository: no package, no module, no import, no knowledge."""
    roots = [LAYER, *(p for p in BUILD.iterdir() if p.is_dir() and p.name.endswith("Function"))]
    assert len(roots) == 5, roots  # the layer, ingest, retry, canary and audit
    for root in roots:  # what the Lambda runtime puts on sys.path
        for name in ("ops", "ops.py", "local", "local.py"):
            assert not (root / name).exists(), root / name
    shipped = [p for p in BUILD.rglob("*") if p.is_file()]
    assert not [p for p in shipped if p.name.split(".")[0] == "redrive"]
    assert not [p for p in shipped if "ops" in p.relative_to(BUILD).parts[:3]]
    # our code (the package and the handlers) in full; third-party code for imports only
    ours = [p for p in shipped if p.suffix == ".py" and "richpanel_destination" in p.parts]
    ours += [root / "app.py" for root in roots[1:]]
    found = {
        str(p.relative_to(BUILD)): m.group(0)
        for p in ours
        if (m := OPERATOR_ONLY.search(p.read_text(encoding="utf-8")))
    }
    assert not found, found
    imports = re.compile(r"^\s*(?:from|import)\s+(?:ops|local)(?:\.|\s|$)", re.MULTILINE)
    strays = [
        str(p.relative_to(BUILD))
        for p in shipped
        if p.suffix == ".py" and imports.search(p.read_text(encoding="utf-8", errors="replace"))
    ]
    assert not strays, strays
    # the patterns do find what they look for, where it lives
    for source in ("ops/redrive/cli.py", "ops/redrive/targets.py", "local/targets.py"):
        assert OPERATOR_ONLY.search((ROOT / source).read_text(encoding="utf-8")), source


def test_layer_ships_bytecode_that_stays_valid_in_the_deployed_zip() -> None:
    """Lambda cannot write __pycache__, and the zip dates every file 1980-01-01: each module
    needs a cpython-312 .pyc that is hash-based and unchecked, or it is compiled every cold start.
    """
    sources = sorted(LAYER.rglob("*.py"))
    assert len(sources) > 500
    stale = []
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-312.pyc"
        header = pyc.read_bytes()[:16] if pyc.is_file() else b""
        if len(header) < 16 or int.from_bytes(header[4:8], "little") != 0b01:  # hash, unchecked
            stale.append(str(source.relative_to(LAYER)))
    assert not stale, f"{len(stale)} modules without an unchecked-hash .pyc: {stale[:5]}"


def test_ingest_function_handles_every_sample(tmp_path: Path) -> None:
    report = _invoke("IngestFunction", INGEST_EVENTS, tmp_path)
    _assert_isolated(report, "IngestFunction")
    assert report["modules"]["boto3"].startswith(str(RUNTIME))  # from "the runtime", not the layer
    assert sorted(report["results"]) == sorted(e.name for e in INGEST_EVENTS)
    for name, result in report["results"].items():
        assert "error" not in result, f"{name}: {result['error']}"
        answer = result["answer"]
        body = json.loads(answer["body"])
        if name in SKIPPED_ONLY:
            # Acknowledged and skipped: nothing to deliver, so nothing fails.
            assert answer["statusCode"] == 200, (name, body)
            assert {r["outcome"] for r in body["results"]} == {"skipped"}, (name, body)
        else:
            # Richpanel unreachable and no retry queue to park in: 503 so Segment retries.
            assert answer["statusCode"] == 503, (name, body)
            assert "failed" in {r["outcome"] for r in body["results"]}, (name, body)
            # a REST answer may carry it in multiValueHeaders; an HTTP API (v2) answer in headers
            retry_after = (answer.get("multiValueHeaders") or {}).get("Retry-After")
            assert retry_after or (answer.get("headers") or {}).get("Retry-After"), name


def test_retry_function_reports_its_message_failed(tmp_path: Path) -> None:
    report = _invoke("RetryFunction", RETRY_EVENTS, tmp_path)
    _assert_isolated(report, "RetryFunction")
    (result,) = report["results"].values()
    assert "error" not in result, result["error"]
    records = json.loads(RETRY_EVENTS[0].read_text())["Records"]
    # Neither delivered nor postponed (no queue to change the visibility on): SQS redelivers.
    assert result["answer"] == {
        "batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records]
    }


def _in_lambda_python(code: str, paths: list[Path], env: dict[str, str] | None = None) -> str:
    """Run code in a fresh ``python3.12 -I -S`` whose sys.path starts with paths; its stdout."""
    prelude = f"import sys; sys.path[:0] = {[str(p) for p in paths]!r}; "
    done = subprocess.run(
        [PYTHON312, "-I", "-S", "-c", prelude + code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_layer_explains_a_refused_event_in_the_lambda_python() -> None:
    """jsonschema (compiled rpds-py inside) loads lazily: prove it imports from the layer too."""
    code = (
        "from richpanel_destination.inbound.validate import validate_event;"
        "print([p.as_dict() for p in validate_event({'type': 'track', 'userId': 'u'})])"
    )
    answer = _in_lambda_python(code, [HOST_LAYER])
    assert answer == "[{'path': '/event', 'message': 'event is required'}]"


def test_subsegment_tracing_loads_the_xray_sdk_from_the_layer_and_botocore_from_the_runtime() -> (
    None
):
    """TraceSubsegments=true: the X-Ray SDK is in the layer; botocore is the runtime's only."""
    assert not (LAYER / "botocore").exists() and not (HOST_LAYER / "botocore").exists()
    code = (
        "import app, aws_xray_sdk.core, botocore;"
        "print(type(app.tracer).__name__, aws_xray_sdk.__file__, botocore.__file__)"
    )
    paths = [HOST_BUILD / "IngestFunction", HOST_LAYER, RUNTIME]
    answer = _in_lambda_python(code, paths, {**ENV, "POWERTOOLS_TRACE_DISABLED": "false"})
    tracer, xray, botocore = answer.split()
    assert tracer == "Tracer"
    assert xray.startswith(str(HOST_LAYER)) and botocore.startswith(str(RUNTIME))


def test_the_layer_validates_with_the_validators_generated_at_build_time() -> None:
    """Every call type's fast check comes from inbound/prebuilt, matching the schema files."""
    code = (
        "import json; from richpanel_destination.inbound.validate import CALL_TYPES, "
        "fast_check_for; print(json.dumps(sorted(fast_check_for(t).func.__module__ "
        "for t in CALL_TYPES)))"
    )
    modules = json.loads(_in_lambda_python(code, [HOST_LAYER]))
    schemas = LAYER / "richpanel_destination" / "inbound" / "schemas"
    call_types = sorted(p.stem for p in schemas.glob("*.json") if p.stem != "common")
    assert modules == [f"richpanel_destination.inbound.prebuilt.{t}" for t in call_types]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
