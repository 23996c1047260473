"""Finding the queues: the local stack's ready file, a deployed stack's outputs."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from local import targets as local_stack
from ops.redrive.targets import Target, TargetError, local_target, sqs_client, stack_target

from .helpers import Queues


def test_local_target_reads_the_ready_file(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    with pytest.raises(TargetError, match="make run"):
        local_target(ready)
    info = {
        "sqs_endpoint": "http://127.0.0.1:5555",
        "queues": {"RetryQueue": "http://q/retry", "DeadLetterQueue": "http://q/dlq"},
        "queue_arns": {
            "RetryQueue": "arn:aws:sqs:us-east-1:123456789012:retry",
            "DeadLetterQueue": "arn:aws:sqs:us-east-1:123456789012:dlq",
        },
        "pid": 0,
    }
    ready.write_text(json.dumps(info))
    target = local_target(ready)
    assert (target.source, target.destination) == ("http://q/dlq", "http://q/retry")
    assert (target.endpoint, target.region, target.local) == (
        "http://127.0.0.1:5555",
        "us-east-1",
        True,
    )
    ready.write_text(json.dumps({**info, "pid": 2**22 + 12345}))  # above any pid_max
    with pytest.raises(TargetError, match="stale"):
        local_target(ready)


def test_stack_target_reads_the_stack_outputs(queues: Queues) -> None:
    template = {
        "Resources": {
            "RetryQueue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "s-retry"}},
            "DeadLetterQueue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "s-dlq"}},
        },
        "Outputs": {
            "RetryQueueUrl": {"Value": {"Ref": "RetryQueue"}},
            "DeadLetterQueueUrl": {"Value": {"Ref": "DeadLetterQueue"}},
        },
    }
    boto3.client("cloudformation").create_stack(StackName="s", TemplateBody=json.dumps(template))
    target = stack_target("s")
    assert target.source.endswith("/s-dlq")
    assert target.destination.endswith("/s-retry")
    assert target.region == "us-east-1"


def test_the_local_stack_knowledge_matches_local() -> None:
    """local/targets.py restates what local/ uses, without importing moto or yaml."""
    from local.sqs import FAKE_ACCESS_KEY, FAKE_SECRET_KEY
    from local.template import LOCAL_REGION

    assert local_stack.credentials() == {
        "aws_access_key_id": FAKE_ACCESS_KEY,
        "aws_secret_access_key": FAKE_SECRET_KEY,
    }
    assert local_stack.REGION == LOCAL_REGION
    makefile = (Path(__file__).resolve().parents[3] / "Makefile").read_text()
    assert f"--ready-file {local_stack.READY_FILE}" in makefile


def test_only_the_local_stack_gets_the_local_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "operator")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "operator-secret")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    import boto3

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # an earlier test's cached credentials
    local = sqs_client(
        Target("http://q/dlq", "http://q/retry", "http://127.0.0.1:9", "us-east-1", local=True)
    )
    aws = sqs_client(Target("https://sqs.eu-west-1.amazonaws.com/1/d", "r", region="eu-west-1"))
    assert local.meta.endpoint_url == "http://127.0.0.1:9"
    assert local._request_signer._credentials.access_key == "testing"
    assert aws.meta.region_name == "eu-west-1"
    assert aws._request_signer._credentials.access_key == "operator"
