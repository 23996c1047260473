"""The local stack in this process, for running handlers on sample and golden requests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import requests

from local.dynamodb import dynamodb_client, empty_table
from local.run import LocalStack
from local.template import LOCAL_REGION, Template
from richpanel_destination import runtime


@pytest.fixture(scope="module")
def local_stack() -> Iterator[LocalStack]:
    saved = dict(os.environ)
    runtime.reset()  # handlers build their clients from this stack's environment
    local = LocalStack(Template.load(), api_port=0, sandbox_port=0, environ={})
    try:
        local.start()
        yield local
    finally:
        local.stop()
        os.environ.clear()
        os.environ.update(saved)
        runtime.reset()


def forget(local: LocalStack) -> None:
    """No recorded Richpanel calls and no remembered messageIds: each case starts clean."""
    requests.delete(f"{local.sandbox.url}/_sandbox/calls", timeout=5)  # type: ignore[union-attr]
    client = dynamodb_client(local.sqs.endpoint_url, LOCAL_REGION)  # type: ignore[union-attr]
    for table in local.tables.values():
        empty_table(client, table.name)
