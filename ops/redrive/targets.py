"""Which queues to move between (the local stack, a deployed stack, URLs), and their client."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local import targets as local_stack

SQSClient = Any  # a boto3 SQS client (no stubs shipped)


class TargetError(Exception):
    """The queues to move between cannot be determined."""


@dataclass(frozen=True)
class Target:
    """Where to move from and to, and how to reach SQS."""

    source: str
    destination: str
    endpoint: str | None = None
    region: str | None = None
    local: bool = False
    source_arn: str | None = None
    destination_arn: str | None = None


def region_of(url_or_arn: str) -> str | None:
    """The region a queue URL or ARN names, if it names one."""
    if url_or_arn.startswith("arn:"):
        parts = url_or_arn.split(":")
        return parts[3] if len(parts) > 3 and parts[3] else None
    match = re.match(r"https://(?:sqs\.([a-z0-9-]+)|([a-z0-9-]+)\.queue)\.amazonaws", url_or_arn)
    return (match.group(1) or match.group(2)) if match else None


def local_target(ready_file: Path) -> Target:
    """The local stack's queues, from the ready file `python -m local.run` writes."""
    try:
        queues = local_stack.read_ready_file(ready_file)
    except local_stack.LocalStackError as exc:
        raise TargetError(str(exc)) from exc
    source_arn = queues.dead_letter_arn
    return Target(
        queues.dead_letter,
        queues.retry,
        endpoint=queues.endpoint,
        region=region_of(source_arn) if source_arn else local_stack.REGION,
        local=True,
        source_arn=source_arn,
        destination_arn=queues.retry_arn,
    )


def stack_target(stack_name: str) -> Target:
    """A deployed stack's queues, from its DeadLetterQueueUrl and RetryQueueUrl outputs."""
    import boto3

    stacks = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    try:
        source, destination = outputs["DeadLetterQueueUrl"], outputs["RetryQueueUrl"]
    except KeyError as exc:
        raise TargetError(f"stack {stack_name} has no output {exc}") from exc
    return Target(source, destination, region=region_of(source))


def resolve_target(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> Target:
    """The queues from --local, --stack, --source/--destination or the environment."""
    if args.local:
        target = local_target(Path(args.ready_file))
        if args.source or args.destination:  # other queues on the same local endpoint
            target = Target(
                args.source or target.source,
                args.destination or target.destination,
                endpoint=target.endpoint,
                region=target.region,
                local=True,
            )
        return target
    if args.stack:
        target = stack_target(args.stack)
        source = args.source or target.source
        destination = args.destination or target.destination
    else:
        source = args.source or environ.get("DEAD_LETTER_QUEUE_URL", "")
        destination = args.destination or environ.get("RETRY_QUEUE_URL", "")
    if not source or not destination:
        raise TargetError(
            "which queues? give --local (make run), --stack NAME, or --source and "
            "--destination (or DEAD_LETTER_QUEUE_URL and RETRY_QUEUE_URL)"
        )
    return Target(source, destination, region=region_of(source))


def sqs_client(target: Target, *, retries: bool = True) -> SQSClient:
    """A boto3 SQS client for the target (the local stack's credentials for the local stack)."""
    import boto3
    from botocore.config import Config

    attempts = {"mode": "standard"} if retries else {"mode": "standard", "total_max_attempts": 1}
    options: dict[str, Any] = {"config": Config(retries=attempts)}
    if target.region:
        options["region_name"] = target.region
    if target.endpoint:
        options["endpoint_url"] = target.endpoint
    if target.local:
        options.update(local_stack.credentials())
    return boto3.client("sqs", **options)


def queue_arn(sqs: SQSClient, url: str) -> str:
    """A queue's ARN, from its URL."""
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return str(attrs["QueueArn"])


def visible(sqs: SQSClient, url: str) -> int | None:
    """About how many messages a queue shows (None when it cannot be read: a progress hint)."""
    try:
        attrs = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"])
    except Exception:  # only for the progress line
        return None
