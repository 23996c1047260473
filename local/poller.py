"""Emulation of Lambda's SQS event source mapping: poll a queue, invoke, delete successes."""

from __future__ import annotations

import base64
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from local.lambda_runtime import Function
from local.template import SqsEventSource

MAX_RECEIVE = 10  # SQS ReceiveMessage limit


def to_lambda_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """Turn one ReceiveMessage message into a Lambda SQS event record."""
    attributes = {str(k): str(v) for k, v in (message.get("Attributes") or {}).items()}
    message_attributes: dict[str, Any] = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        converted: dict[str, Any] = {}
        if "StringValue" in value:
            converted["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            binary = value["BinaryValue"]
            converted["binaryValue"] = (
                base64.b64encode(binary).decode("ascii") if isinstance(binary, bytes) else binary
            )
        converted["stringListValues"] = list(value.get("StringListValues") or [])
        converted["binaryListValues"] = [
            base64.b64encode(item).decode("ascii") if isinstance(item, bytes) else item
            for item in value.get("BinaryListValues") or []
        ]
        converted["dataType"] = value.get("DataType")
        message_attributes[name] = converted
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def build_sqs_event(
    messages: Sequence[dict[str, Any]], queue_arn: str, region: str
) -> dict[str, Any]:
    """The Lambda SQS event for a batch of received messages."""
    return {"Records": [to_lambda_record(m, queue_arn, region) for m in messages]}


def failed_message_ids(response: Any, message_ids: Sequence[str]) -> set[str]:
    """Message ids Lambda would keep for a ReportBatchItemFailures response.

    A missing/empty response or batchItemFailures means success; a malformed one (or an
    unknown / empty itemIdentifier) fails the whole batch, as Lambda does.
    """
    everything = set(message_ids)
    if response is None:
        return set()
    if not isinstance(response, dict):
        return everything
    failures = response.get("batchItemFailures")
    if not failures:
        return set()
    if not isinstance(failures, list):
        return everything
    failed: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or identifier not in everything:
            return everything
        failed.add(identifier)
    return failed


class SqsPoller:
    """Worker threads that receive from a queue and invoke a function like Lambda does.

    Worker count is ScalingConfig.MaximumConcurrency, or 1 when the template sets none
    (real Lambda starts 5 pollers and scales; one keeps local runs predictable).
    The function timeout is not enforced.
    """

    def __init__(
        self,
        function: Function,
        source: SqsEventSource,
        queue_url: str,
        queue_arn: str,
        client_factory: Callable[[], Any],
        region: str,
        workers: int | None = None,
        wait_time_seconds: int = 1,
    ) -> None:
        """Configure; nothing runs until start()."""
        self.function = function
        self.source = source
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.region = region
        self.workers = workers or source.maximum_concurrency or 1
        self.wait_time_seconds = wait_time_seconds
        self._client_factory = client_factory
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> SqsPoller:
        """Start the worker threads."""
        self._stop.clear()
        for index in range(self.workers):
            thread = threading.Thread(
                target=self._run,
                name=f"sqs-poller-{self.function.spec.logical_id}-{index}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Ask workers to stop after their current batch and wait for them."""
        self._stop.set()
        deadline = time.monotonic() + (
            timeout
            if timeout is not None
            else self.wait_time_seconds
            + self.source.maximum_batching_window_seconds
            + self.function.spec.timeout
            + 5
        )
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = [thread for thread in self._threads if thread.is_alive()]

    @property
    def running(self) -> bool:
        """Whether any worker is alive."""
        return any(thread.is_alive() for thread in self._threads)

    def _run(self) -> None:
        client = self._client_factory()
        while not self._stop.is_set():
            try:
                self.poll_once(client)
            except Exception:
                if self._stop.is_set():
                    break
                self._log("polling failed")
                self._stop.wait(1)

    def receive_batch(self, client: Any) -> list[dict[str, Any]]:
        """Receive up to BatchSize messages, waiting at most the batching window for more."""
        batch_size = max(1, self.source.batch_size)
        messages = self._receive(client, min(batch_size, MAX_RECEIVE), self.wait_time_seconds)
        window = self.source.maximum_batching_window_seconds
        if not messages or window <= 0:
            return messages
        deadline = time.monotonic() + window
        while len(messages) < batch_size and not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            wanted = min(batch_size - len(messages), MAX_RECEIVE)
            more = self._receive(client, wanted, min(self.wait_time_seconds, int(remaining)))
            if not more and remaining < 1:
                self._stop.wait(remaining)
            messages.extend(more)
        return messages

    def poll_once(self, client: Any) -> int:
        """One receive / invoke / delete cycle; returns how many records were handled."""
        messages = self.receive_batch(client)
        if not messages:
            return 0
        event = build_sqs_event(messages, self.queue_arn, self.region)
        ids = [record["messageId"] for record in event["Records"]]
        try:
            response = self.function.invoke(event)
        except Exception:
            self._log(f"handler raised; {len(ids)} message(s) stay on the queue")
            return len(ids)
        if self.source.reports_batch_item_failures:
            failed = failed_message_ids(response, ids)
        else:
            failed = set()
        done = [m for m in messages if m["MessageId"] not in failed]
        self._delete(client, done)
        return len(ids)

    def _receive(self, client: Any, count: int, wait: int) -> list[dict[str, Any]]:
        response = client.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=max(0, wait),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages") or [])

    def _delete(self, client: Any, messages: Sequence[dict[str, Any]]) -> None:
        for start in range(0, len(messages), MAX_RECEIVE):
            chunk = messages[start : start + MAX_RECEIVE]
            entries = [
                {"Id": str(index), "ReceiptHandle": m["ReceiptHandle"]}
                for index, m in enumerate(chunk)
            ]
            result = client.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
            for failure in result.get("Failed") or []:
                print(
                    f"local poller {self.function.spec.logical_id}: delete failed: {failure}",
                    file=sys.stderr,
                    flush=True,
                )

    def _log(self, message: str) -> None:
        print(f"local poller {self.function.spec.logical_id}: {message}", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()
