"""Deliver each Segment messageId to Richpanel at most once (Powertools Idempotency on DynamoDB).

Ingest and retry share one key space (``KEY_PREFIX#md5(messageId)``), so a duplicate
arriving at either is acknowledged without a second Richpanel call. A record is kept
only for a *delivered* call: any other outcome deletes it so the event can be tried again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..richpanel.outcomes import Kind, Outcome

KEY_PREFIX = "richpanel-delivery"
Send = Callable[[Mapping[str, Any]], Outcome]
SendBatch = Callable[[Sequence[Mapping[str, Any]]], Outcome]
LATE = Outcome(Kind.RETRYABLE, "no answer from Richpanel within the delivery budget")
CLAIM_ATTEMPTS = 3  # as Powertools' IdempotencyHandler: inconsistent states are retried twice


class NotDelivered(Exception):
    """Raised inside the idempotent section so Powertools drops the in-progress record."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


class DedupeUnavailable(RuntimeError):
    """The idempotency store failed; delivering now could deliver twice."""


def _mark_duplicate(response: Any, _record: Any) -> Any:
    return {**(response or {}), "duplicate": True}


class Deduplicator:
    """Wraps a send in a DynamoDB-backed idempotency record keyed by ``messageId``."""

    def __init__(self, table_name: str, ttl_seconds: int, dynamodb: Any | None = None) -> None:
        from aws_lambda_powertools.utilities.idempotency import (  # deferred: needs boto3
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        self.config = IdempotencyConfig(
            event_key_jmespath="messageId",
            expires_after_seconds=ttl_seconds,
            response_hook=_mark_duplicate,  # type: ignore[arg-type]
        )
        store = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb)
        # What idempotent_function's handler does before it touches the store (the same
        # key prefix, jmespath and TTL); configure() is a no-op once configured.
        store.configure(config=self.config, key_prefix=KEY_PREFIX)
        self._store = store

        @idempotent_function(  # type: ignore[untyped-decorator]
            data_keyword_argument="key",
            config=self.config,
            persistence_store=store,
            key_prefix=KEY_PREFIX,
        )
        def deliver(key: dict[str, str], call: Mapping[str, Any], send: Send) -> dict[str, Any]:
            outcome = send(call)
            if outcome.kind is not Kind.DELIVERED:
                raise NotDelivered(outcome)
            return {"status": outcome.status}

        self._deliver = deliver

    def register_lambda_context(self, context: Any) -> None:
        """Let in-progress records expire with the invocation that holds them."""
        self.config.register_lambda_context(context)

    def send(self, message_id: str | None, call: Mapping[str, Any], send: Send) -> Outcome:
        """Send unless this messageId was already delivered; never raises for delivery failures."""
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
        )

        if not message_id:
            return send(call)  # nothing to key on: deliver without deduplication
        answered: list[Outcome] = []  # the real answer (with its latency), when we called

        def sending(payload: Mapping[str, Any]) -> Outcome:
            answered.append(send(payload))
            return answered[-1]

        try:
            stored = self._deliver(key={"messageId": message_id}, call=call, send=sending)
        except NotDelivered as exc:
            return exc.outcome
        except IdempotencyAlreadyInProgressError:
            return Outcome(Kind.IN_FLIGHT, "already being delivered by another invocation")
        except Exception as exc:  # persistence and inconsistent-state errors
            raise DedupeUnavailable(f"idempotency store: {type(exc).__name__}: {exc}") from exc
        if stored.get("duplicate"):
            return Outcome(Kind.DUPLICATE, "already delivered", stored.get("status"))
        if answered:
            return answered[-1]
        return Outcome(
            Kind.DELIVERED, f"Richpanel answered {stored.get('status')}", stored.get("status")
        )

    def send_batch(
        self,
        items: Sequence[tuple[str | None, Mapping[str, Any]]],
        send_batch: SendBatch,
        *,
        deadline: float | None = None,
        late: Outcome = LATE,
    ) -> list[Outcome]:
        """Send several calls in one request, each messageId at most once; one outcome per item.

        Claims each messageId's record (in progress) the way the single-call path does, leaves
        out those already delivered (DUPLICATE) or being delivered (IN_FLIGHT), sends the rest
        at once, then completes the records of a delivered request or deletes them. Items
        without a messageId are sent undeduplicated; an item whose record the store cannot
        claim or settle gets a RETRYABLE outcome. Never raises for delivery or store failures.

        When ``deadline`` (``time.monotonic()``) passes before the request is sent, nothing is
        sent: the records claimed so far are deleted and the items not refused get ``late``.
        """
        outcomes: list[Outcome | None] = [None] * len(items)
        claimed: list[int] = []  # items we hold a record for
        sending: list[int] = []  # items in the request
        in_time = True
        for position, (message_id, _call) in enumerate(items):
            if deadline is not None and time.monotonic() >= deadline:
                in_time = False
                break
            if not message_id:
                sending.append(position)
                continue
            refused = self._claim(message_id)
            if refused is None:
                claimed.append(position)
                sending.append(position)
            else:
                outcomes[position] = refused
        if deadline is not None and time.monotonic() >= deadline:
            in_time = False
        answer = late
        if in_time and sending:
            answer = send_batch([items[position][1] for position in sending])
        for position, outcome in enumerate(outcomes):
            if outcome is None:
                outcomes[position] = answer
        for position in claimed:
            settled = self._settle(items[position][0] or "", answer)
            if settled is not None:
                outcomes[position] = settled
        return [outcome or answer for outcome in outcomes]

    def _data(self, message_id: str) -> dict[str, str]:
        return {"messageId": message_id}

    def _claim(self, message_id: str) -> Outcome | None:
        """Save the in-progress record (None: claimed) or say why this item is not sent."""
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyItemAlreadyExistsError,
            IdempotencyItemNotFoundError,
        )
        from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import (
            STATUS_CONSTANTS,
        )

        data = self._data(message_id)
        context = self.config.lambda_context
        remaining = context.get_remaining_time_in_millis() if context is not None else None
        problem = "inconsistent idempotency record"
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
                if expiry is not None and expiry < int(time.time() * 1000):
                    continue  # its holder timed out: the conditional put may take it now
                return Outcome(Kind.IN_FLIGHT, "already being delivered by another invocation")
            stored = record.response_json_as_dict() or {}
            return Outcome(Kind.DUPLICATE, "already delivered", stored.get("status"))
        return Outcome(Kind.RETRYABLE, f"idempotency store: {problem}")

    def _settle(self, message_id: str, answer: Outcome) -> Outcome | None:
        """Complete a delivered item's record, or delete it; an outcome only if the store fails."""
        data = self._data(message_id)
        try:
            if answer.kind is Kind.DELIVERED:
                self._store.save_success(data=data, result={"status": answer.status})
            else:
                self._store.delete_record(data=data, exception=NotDelivered(answer))
        except Exception as exc:
            return _unavailable(exc)
        return None


def _unavailable(exc: BaseException) -> Outcome:
    """The outcome the single-call path gives when the store fails (DedupeUnavailable)."""
    return Outcome(Kind.RETRYABLE, f"idempotency store: {type(exc).__name__}: {exc}"[:300])
