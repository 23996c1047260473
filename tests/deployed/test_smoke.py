"""Smoke test of a deployed stack: `make test-deployed STACK=richpanel-destination`.

Runs only when AWS_SAM_STACK_NAME names a deployed stack (as in serverless-test-samples);
skipped otherwise, so `make test` never touches AWS. AWS credentials and region come from
your environment (AWS_PROFILE, AWS_REGION, ...).

- The API URL is the stack's ``ApiUrl`` output (CloudFormation describe_stacks).
- The write key is SMOKE_WRITE_KEY if set, else ``writeKeys[0]`` of the inbound secret
  (the stack's ``InboundSecretArn`` parameter, read with Secrets Manager get_secret_value).
- It sends one identify and two tracks (one gzip), each with a fresh messageId, for ONE fixed
  synthetic customer, uid ``richpanel-destination-smoke-test`` (docs/deploy.md section 8). Richpanel
  cannot delete customers: every run updates this same customer and never adds another.
- It asserts HTTP 200 and that the event was ``delivered`` (or ``queued``: Richpanel was slow
  or answered 5xx/429 and the retry function will send it again).

``delivered`` proves only that Richpanel answered 2xx. Richpanel's ingest answers 200 even for
a wrong API key and processes calls later; whether the events arrived can only be confirmed
in Richpanel's UI (look up the customer ``richpanel-destination-smoke-test`` and its
``Smoke Test`` event a few minutes later).
"""

from __future__ import annotations

import gzip
import json
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import requests

STACK_VARIABLE = "AWS_SAM_STACK_NAME"
WRITE_KEY_VARIABLE = "SMOKE_WRITE_KEY"
SMOKE_UID = "richpanel-destination-smoke-test"
SMOKE_EMAIL = f"{SMOKE_UID}@example.com"
ACCEPTED = ("delivered", "queued")

pytestmark = [
    pytest.mark.deployed,
    pytest.mark.skipif(
        not os.environ.get(STACK_VARIABLE),
        reason=f"{STACK_VARIABLE} is not set (make test-deployed STACK=<your stack>)",
    ),
]


@dataclass(frozen=True)
class Deployment:
    stack: str
    api_url: str
    write_key: str


def api_url(outputs: Sequence[Mapping[str, Any]]) -> str:
    """The ApiUrl output, without a trailing slash."""
    for output in outputs:
        if output.get("OutputKey") == "ApiUrl":
            return str(output["OutputValue"]).rstrip("/")
    raise AssertionError("the stack has no ApiUrl output: is it this project's template?")


def parameter(parameters: Sequence[Mapping[str, Any]], name: str) -> str:
    for found in parameters:
        if found.get("ParameterKey") == name:
            return str(found.get("ResolvedValue") or found["ParameterValue"])
    raise AssertionError(f"the stack has no {name} parameter")


def first_write_key(secret_string: str) -> str:
    """writeKeys[0] of the inbound secret's JSON."""
    keys = json.loads(secret_string).get("writeKeys")
    assert isinstance(keys, list) and keys and isinstance(keys[0], str) and keys[0], (
        "the inbound secret has no writeKeys (set SMOKE_WRITE_KEY to use another key)"
    )
    return keys[0]


@pytest.fixture(scope="module")
def deployment() -> Deployment:
    import boto3

    stack_name = os.environ[STACK_VARIABLE]
    (stack,) = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    url = api_url(stack.get("Outputs", []))
    write_key = os.environ.get(WRITE_KEY_VARIABLE)
    if not write_key:
        arn = parameter(stack.get("Parameters", []), "InboundSecretArn")
        secret = boto3.client("secretsmanager").get_secret_value(SecretId=arn)
        write_key = first_write_key(secret["SecretString"])
    return Deployment(stack_name, url, write_key)


def fresh_message_id(kind: str) -> str:
    """A messageId never used before: one already delivered would not be sent again."""
    return f"smoke-{kind}-{int(time.time())}-{uuid.uuid4().hex[:12]}"


def send(deployment: Deployment, route: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = requests.post(
        f"{deployment.api_url}/v1/{route}",
        json=body,
        auth=(deployment.write_key, ""),
        headers={"User-Agent": "richpanel-destination-smoke-test"},
        timeout=30,
    )
    assert answer.status_code == 200, f"{answer.status_code}: {answer.text}"
    payload: dict[str, Any] = answer.json()
    return payload


def assert_accepted(payload: dict[str, Any], message_id: str, call_type: str) -> None:
    """200 with the one event delivered (Richpanel answered 2xx) or queued (sent later)."""
    assert payload["summary"]["received"] == 1, payload
    (result,) = payload["results"]
    assert (result["messageId"], result["type"]) == (message_id, call_type), result
    assert result["outcome"] in ACCEPTED, result


def test_identify_is_delivered(deployment: Deployment) -> None:
    message_id = fresh_message_id("identify")
    body = {
        "type": "identify",
        "userId": SMOKE_UID,
        "messageId": message_id,
        "traits": {"name": "Richpanel destination smoke test", "email": SMOKE_EMAIL},
    }
    assert_accepted(send(deployment, "identify", body), message_id, "identify")


def test_track_is_delivered(deployment: Deployment) -> None:
    message_id = fresh_message_id("track")
    body = {
        "type": "track",
        "userId": SMOKE_UID,
        "event": "Smoke Test",
        "messageId": message_id,
        "properties": {"stack": deployment.stack},
    }
    assert_accepted(send(deployment, "track", body), message_id, "track")


def test_gzip_track_is_delivered(deployment: Deployment) -> None:
    """A gzip body labelled application/json reaches the function intact: through the REST API
    (BinaryMediaTypes */*) and, unverified until this runs, through an HTTP API (ApiKind=http,
    docs/deploy.md#11-http-api-apikindhttp), which must hand those bytes over base64."""
    message_id = fresh_message_id("gzip")
    body = {
        "type": "track",
        "userId": SMOKE_UID,
        "event": "Smoke Test",
        "messageId": message_id,
        "properties": {"stack": deployment.stack, "encoding": "gzip"},
    }
    answer = requests.post(
        f"{deployment.api_url}/v1/track",
        data=gzip.compress(json.dumps(body).encode("utf-8")),
        auth=(deployment.write_key, ""),
        headers={
            "User-Agent": "richpanel-destination-smoke-test",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
        timeout=30,
    )
    assert answer.status_code == 200, f"{answer.status_code}: {answer.text}"
    assert_accepted(answer.json(), message_id, "track")
