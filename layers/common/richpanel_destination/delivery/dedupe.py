"""Deliver each event to Richpanel at most once: claim -> send -> settle, on DynamoDB.

One protocol for single and batch sends, and the only code that knows Powertools'
Idempotency persistence API (its DynamoDB layout: key ``id``, TTL ``expiration``).

- **claim**: a conditional put of an in-progress record for the event's key. It fails when
  the key was delivered (DUPLICATE) or another invocation holds it (IN_FLIGHT; its claim
  expires with that invocation's remaining time, so a dead holder does not block for long).
- **send**: only claimed events are sent.
- **settle**: a delivered event's record becomes COMPLETED (kept for the TTL); any other
  outcome deletes the record so the event can be tried again. A success that cannot be
  recorded is still a success: saving is retried briefly, then the outcome says so.

Ingest and retry share one key space (``KEY_PREFIX#md5(key)``). The key is the Segment
``messageId``, or for an event without one a hash of its content (``event_key``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..limits import held_retry_after, reason
from ..richpanel.outcomes import Kind, Outcome

KEY_PREFIX = "richpanel-delivery"
Send = Callable[[Mapping[str, Any]], Outcome]
SendBatch = Callable[[Sequence[Mapping[str, Any]]], list[Outcome]]  # an outcome per call
LATE = Outcome(Kind.RETRYABLE, "no answer from Richpanel within the delivery budget")
IN_FLIGHT = Outcome(Kind.IN_FLIGHT, "already being delivered by another invocation")
CLAIM_ATTEMPTS = 3  # as Powertools' IdempotencyHandler: inconsistent states are retried twice
SAVE_ATTEMPTS = 3  # saving a delivered record: tries, SAVE_PAUSE_SECONDS apart
SAVE_PAUSE_SECONDS = 0.05
STORE_TIMEOUT_SECONDS = 0.5  # connect and read, per DynamoDB call
# Fields that differ between resends of the same event, left out of its content key.
UNSTABLE_FIELDS = ("sentAt", "receivedAt", "writeKey")


class DedupeUnavailable(RuntimeError):
    """The idempotency store failed; delivering now could deliver twice."""


class NotDelivered(Exception):
    """Why a claimed record is deleted (Powertools' delete_record wants an exception)."""


def event_key(event: Mapping[str, Any]) -> str:
    """The deduplication key: the messageId, or a hash of the event's stable content."""
    message_id = event.get("messageId")
    if isinstance(message_id, str) and message_id:
        return message_id
    stable = {k: v for k, v in event.items() if k not in UNSTABLE_FIELDS}
    text = json.dumps(stable, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "content:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def store_client() -> Any:
    """A DynamoDB client whose every call ends in about a second or two: the store must not
    hold a send past its deadline (boto3's default DynamoDB retries back off for 10+ s)."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=STORE_TIMEOUT_SECONDS,
        read_timeout=STORE_TIMEOUT_SECONDS,
        retries={"mode": "standard", "max_attempts": 2},
    )
    return boto3.client("dynamodb", config=config)


def _unavailable(exc: BaseException) -> Outcome:
    """The outcome of an event whose record the store cannot claim: retry later."""
    return Outcome(Kind.RETRYABLE, reason(f"idempotency store: {type(exc).__name__}: {exc}"))


class Deduplicator:
    """Claims, sends and settles events on a DynamoDB table (Powertools' record layout)."""

    def __init__(self, table_name: str, ttl_seconds: int, dynamodb: Any | None = None) -> None:
        from aws_lambda_powertools.utilities.idempotency import (  # deferred: needs boto3
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
        )

        self.config = IdempotencyConfig(event_key_jmespath="key", expires_after_seconds=ttl_seconds)
        if dynamodb is None:
            dynamodb = store_client()
        store = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb)
        store.configure(config=self.config, key_prefix=KEY_PREFIX)
        self._store = store

    def register_lambda_context(self, context: Any) -> None:
        """Let claims expire with the invocation that holds them."""
        self.config.register_lambda_context(context)

    def send(
        self, key: str | None, call: Mapping[str, Any], send: Send, *, resend: bool = False
    ) -> Outcome:
        """Send unless this key was delivered or is being delivered; never raises.

        ``resend`` (a replay's X-Replay: resend, inbound/replay.py): a delivered key is sent
        again and recorded anew; one being delivered is still refused (IN_FLIGHT).
        """
        if not key:
            return send(call)  # nothing to key on
        refused = self._claim(key, resend=resend)
        if refused is not None:
            return refused
        return self._settle(key, send(call))

    def send_batch(
        self,
        items: Sequence[tuple[str | None, Mapping[str, Any]]],
        send_batch: SendBatch,
        *,
        resend: bool = False,
    ) -> list[Outcome]:
        """Send several calls in one request, each key at most once; one outcome per item.

        Items refused at claim (DUPLICATE, IN_FLIGHT, or RETRYABLE when the store fails) are
        left out of the request; the others get their outcome from ``send_batch``, settled
        item by item.
        """
        outcomes: list[Outcome | None] = [None] * len(items)
        claimed: list[int] = []
        for position, (key, _call) in enumerate(items):
            if key:
                outcomes[position] = self._claim(key, resend=resend)
                if outcomes[position] is None:
                    claimed.append(position)
        sending = [p for p, outcome in enumerate(outcomes) if outcome is None]
        if not sending:
            return [o for o in outcomes if o is not None]
        answers = send_batch([items[p][1] for p in sending])
        for position, answer in zip(sending, answers, strict=True):
            outcomes[position] = answer
        for position in claimed:
            sent = outcomes[position]
            assert sent is not None  # every claimed item was sent
            outcomes[position] = self._settle(items[position][0] or "", sent)
        return [o for o in outcomes if o is not None]

    def _data(self, key: str) -> dict[str, str]:
        return {"key": key}

    def _claim(self, key: str, *, resend: bool = False) -> Outcome | None:
        """Save the in-progress record (None: claimed) or say why this item is not sent.

        ``resend``: a COMPLETED record is deleted and the key claimed again (the one place
        where a delivered event may be sent twice: on purpose, by a server-scope replay).
        """
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyItemAlreadyExistsError,
            IdempotencyItemNotFoundError,
        )
        from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import (
            STATUS_CONSTANTS,
        )

        data = self._data(key)
        context = self.config.lambda_context
        remaining = context.get_remaining_time_in_millis() if context is not None else None
        for _ in range(CLAIM_ATTEMPTS):
            try:
                self._store.save_inprogress(data=data, remaining_time_in_millis=remaining)
                return None
            except IdempotencyItemAlreadyExistsError as exc:
                try:
                    record = exc.old_data_record or self._store.get_record(data=data)
                except IdempotencyItemNotFoundError:
                    continue  # deleted between the put and the get: claim again
                except Exception as exc2:
                    return _unavailable(exc2)
            except Exception as exc:
                return _unavailable(exc)
            if record is None or record.status == STATUS_CONSTANTS["EXPIRED"]:
                continue
            if record.status == STATUS_CONSTANTS["INPROGRESS"]:
                expiry = record.in_progress_expiry_timestamp
                now_ms = int(time.time() * 1000)
                if expiry is not None and expiry < now_ms:
                    continue  # its holder timed out: the conditional put may take it now
                if expiry is None:
                    return IN_FLIGHT
                # a live holder settles within a send; a dead one's claim expires by then
                return replace(IN_FLIGHT, retry_after=held_retry_after((expiry - now_ms) / 1000))
            if resend:
                try:
                    self._store.delete_record(data=data, exception=NotDelivered("resend"))
                except Exception as exc:
                    return _unavailable(exc)
                continue
            stored = record.response_json_as_dict() or {}
            return Outcome(Kind.DUPLICATE, "already delivered", stored.get("status"))
        return Outcome(Kind.RETRYABLE, "idempotency store: inconsistent idempotency record")

    def _settle(self, key: str, answer: Outcome) -> Outcome:
        """Record a delivered item (retried briefly) or release its claim; the final outcome.

        A delivery that cannot be recorded stays delivered (sending it again would deliver
        twice); ``record_failed`` says so. A claim that cannot be released expires with the
        invocation, and the event is parked as its outcome says.
        """
        data = self._data(key)
        if answer.kind is not Kind.DELIVERED:
            with contextlib.suppress(Exception):  # if not, the claim expires with the invocation
                self._store.delete_record(data=data, exception=NotDelivered(answer.reason))
            return answer
        problem: BaseException | None = None
        for attempt in range(SAVE_ATTEMPTS):
            try:
                self._store.save_success(data=data, result={"status": answer.status})
                return answer
            except Exception as exc:
                problem = exc
                if attempt + 1 < SAVE_ATTEMPTS:
                    time.sleep(SAVE_PAUSE_SECONDS)
        note = reason(f"delivery record not saved: {type(problem).__name__}: {problem}")
        return replace(answer, record_failed=note)
