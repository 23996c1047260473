"""Secrets Manager on moto, seeded with the development credentials the template asks for."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import boto3

# Printed by `make run` and used in the README's examples. Development values only.
LOCAL_WRITE_KEY = "local-dev-write-key"
LOCAL_WEBHOOK_SECRET = "local-dev-webhook-secret"
LOCAL_RICHPANEL = {"apiKey": "local-dev-key", "apiSecret": "local-dev-secret"}
LOCAL_INBOUND = {"writeKeys": [LOCAL_WRITE_KEY], "webhookSecrets": [LOCAL_WEBHOOK_SECRET]}


def richpanel_secret(environ: Mapping[str, str]) -> dict[str, str]:
    """The development Richpanel credentials, or RICHPANEL_API_KEY/SECRET from the shell."""
    if environ.get("RICHPANEL_API_KEY"):
        return {
            "apiKey": environ["RICHPANEL_API_KEY"],
            "apiSecret": environ.get("RICHPANEL_API_SECRET", ""),
        }
    return dict(LOCAL_RICHPANEL)


def put_secret(endpoint_url: str, region: str, name: str, value: Mapping[str, Any]) -> str:
    """Create (or update, moto keeps state per process) a JSON secret; returns its ARN."""
    client = boto3.client(
        "secretsmanager",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    text = json.dumps(value)
    try:
        return str(client.create_secret(Name=name, SecretString=text)["ARN"])
    except client.exceptions.ResourceExistsException:
        return str(client.put_secret_value(SecretId=name, SecretString=text)["ARN"])
