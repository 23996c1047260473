"""Deliver each Segment messageId to Richpanel at most once (Powertools Idempotency on DynamoDB).

Ingest and retry share one key space (``KEY_PREFIX#md5(messageId)``), so a duplicate
arriving at either is acknowledged without a second Richpanel call. A record is kept
only for a *delivered* call: any other outcome deletes it so the event can be tried again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..richpanel.outcomes import Kind, Outcome

KEY_PREFIX = "richpanel-delivery"
Send = Callable[[Mapping[str, Any]], Outcome]


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
