"""moto SQS server and creation of the template's queues."""

from __future__ import annotations

import json
import logging
import urllib.request
from dataclasses import dataclass
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from local import moto_fidelity
from local.template import ResolveContext, Template

FAKE_ACCESS_KEY = "testing"
FAKE_SECRET_KEY = "testing"

# CloudFormation AWS::SQS::Queue properties that are SQS attributes of the same name.
_SCALAR_ATTRIBUTE_PROPERTIES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)
# Properties CloudFormation takes as objects but SQS as JSON strings.
_JSON_ATTRIBUTE_PROPERTIES = ("RedrivePolicy", "RedriveAllowPolicy")


@dataclass(frozen=True)
class QueueInfo:
    """A created queue."""

    logical_id: str
    name: str
    url: str
    arn: str


def queue_arn(context: ResolveContext, name: str) -> str:
    """ARN of a queue called name in the context's partition, region and account."""
    return f"arn:{context.partition}:sqs:{context.region}:{context.account_id}:{name}"


def queue_attributes(
    template: Template, logical_id: str, context: ResolveContext
) -> dict[str, str]:
    """SQS CreateQueue attributes derived from the queue's template Properties."""
    props = template.properties(logical_id)
    attributes: dict[str, str] = {}
    for name in _SCALAR_ATTRIBUTE_PROPERTIES:
        if name in props:
            attributes[name] = context.resolve_str(props[name])
    for name in _JSON_ATTRIBUTE_PROPERTIES:
        if name in props:
            value = context.resolve(props[name])
            attributes[name] = value if isinstance(value, str) else json.dumps(value)
    return attributes


def sqs_client(endpoint_url: str, region: str) -> Any:
    """boto3 SQS client for the local endpoint with fake credentials."""
    return boto3.client(
        "sqs",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=FAKE_ACCESS_KEY,
        aws_secret_access_key=FAKE_SECRET_KEY,
    )


def create_template_queues(
    client: Any, template: Template, context: ResolveContext
) -> dict[str, QueueInfo]:
    """Create every AWS::SQS::Queue of the template, dependencies first.

    Fills context.attributes (Arn, QueueName) and context.refs (queue URL) as it goes, so
    the same context later resolves !Ref / !GetAtt of the queues.
    """
    for logical_id in template.queues():
        name = template.queue_name(logical_id, context)
        context.attributes[logical_id] = {"Arn": queue_arn(context, name), "QueueName": name}
    created: dict[str, QueueInfo] = {}
    for logical_id in template.queue_creation_order():
        name = context.attributes[logical_id]["QueueName"]
        kwargs: dict[str, Any] = {
            "QueueName": name,
            "Attributes": queue_attributes(template, logical_id, context),
        }
        tags = context.resolve(template.properties(logical_id).get("Tags") or [])
        if tags:
            kwargs["tags"] = {str(tag["Key"]): str(tag["Value"]) for tag in tags}
        url = client.create_queue(**kwargs)["QueueUrl"]
        arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        context.refs[logical_id] = url
        context.attributes[logical_id]["Arn"] = arn
        created[logical_id] = QueueInfo(logical_id, name, url, arn)
    return created


class LocalSqs:
    """moto's server (all services; the stack uses SQS and DynamoDB) on a local port.

    moto keeps its state per process: two servers in one process see the same queues.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, verbose: bool = False) -> None:
        """Configure; port 0 picks a free port; verbose keeps werkzeug's access log."""
        self.host = host
        self.verbose = verbose
        moto_fidelity.apply()
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self._port: int | None = None

    def start(self) -> str:
        """Start the server and return its endpoint URL."""
        if not self.verbose:
            # werkzeug only installs its INFO access log when the level is unset.
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server.start()
        self._port = self._server.get_host_and_port()[1]
        return self.endpoint_url

    @property
    def port(self) -> int:
        """The bound port."""
        if self._port is None:
            raise RuntimeError("LocalSqs is not started")
        return self._port

    @property
    def endpoint_url(self) -> str:
        """http://host:port of the server."""
        return f"http://{self.host}:{self.port}"

    def client(self, region: str) -> Any:
        """A boto3 SQS client against this server."""
        return sqs_client(self.endpoint_url, region)

    def reset(self) -> None:
        """Forget every queue, table and message (moto's state is shared by the process)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def stop(self) -> None:
        """Stop the server."""
        if self._port is not None:
            self._server.stop()
            self._port = None
