"""Per-container singletons: settings, credentials, the pooled Richpanel client, delivery."""

from __future__ import annotations

import sys
from functools import cache

from . import secrets
from .delivery.breaker import Breaker
from .delivery.dedupe import Deduplicator
from .delivery.deliver import Delivery
from .delivery.freshness import Freshness
from .delivery.gate import Gate
from .delivery.pacing import Pacing
from .delivery.queues import Queues
from .inbound.auth import parse_modes
from .observability.metrics import record_breaker
from .observability.redact import Redactor
from .richpanel.client import RichpanelClient
from .settings import Settings


@cache
def settings() -> Settings:
    return Settings.from_env()


@cache
def auth_modes() -> frozenset[str]:
    """INBOUND_AUTH, checked once; a bad value fails every request loudly (5xx, retried)."""
    return parse_modes(settings().inbound_auth)


@cache
def redactor() -> Redactor:
    """Log redaction; every secret this container reads is added to what it removes."""
    return Redactor(personal_in_clear=settings().log_personal_data)


def richpanel_credentials() -> secrets.RichpanelCredentials:
    """Richpanel's key and secret (Powertools caches them for SECRETS_MAX_AGE_SECONDS)."""
    s = settings()
    found = secrets.richpanel_credentials(s.richpanel_secret_arn, s.secrets_max_age)
    redactor().remember(found.api_key, found.api_secret)
    return found


def inbound_credentials() -> secrets.InboundCredentials:
    """The active write keys and webhook secrets (cached like the Richpanel ones)."""
    s = settings()
    found = secrets.inbound_credentials(s.inbound_secret_arn, s.secrets_max_age)
    redactor().remember(*found.write_keys, *found.webhook_secrets, *found.browser_write_keys)
    return found


@cache
def richpanel() -> Gate:
    """Richpanel's client behind the pacing and (with a table) the shared circuit breaker."""
    s = settings()
    client = RichpanelClient(s, pool_size=s.delivery_concurrency)
    breaker = None
    if s.breaker_failures and s.breaker_table:
        breaker = Breaker(
            s.breaker_table,
            failures=s.breaker_failures,
            cooldown=s.breaker_cooldown,
            dynamodb=dynamodb(),
            notify=record_breaker,
        )
    return Gate(client, Pacing(s.delivery_concurrency), breaker)


@cache
def queues() -> Queues:
    return Queues(settings())


@cache
def dynamodb() -> object:
    """One bounded DynamoDB client for the container's idempotency, freshness and breaker
    (a boto3 client costs tens of ms at cold start; three were made before)."""
    from .delivery.dedupe import store_client

    return store_client()


@cache
def dedupe() -> Deduplicator | None:
    """Idempotency on messageId, or None (switched off) when no table is configured."""
    s = settings()
    if not s.idempotency_table:
        return None
    return Deduplicator(s.idempotency_table, s.idempotency_ttl, dynamodb())


@cache
def freshness() -> Freshness | None:
    """The freshest-data guard, or None (switched off) when no table is configured."""
    s = settings()
    if not s.freshness_table:
        return None
    return Freshness(s.freshness_table, s.freshness_ttl, s.stale_order_events, dynamodb())


@cache
def delivery() -> Delivery:
    s = settings()
    return Delivery(
        richpanel(),
        queues(),
        dedupe=dedupe(),
        freshness=freshness(),
        concurrency=s.delivery_concurrency,
        budget=s.delivery_budget,
        batch_size=s.richpanel_batch_size,
    )


def register_lambda_context(context: object) -> None:
    """Let idempotency claims and freshness leases expire with this invocation."""
    for guard in (dedupe(), freshness()):
        if guard is not None:
            guard.register_lambda_context(context)


def reset() -> None:
    """Forget the singletons and cached secrets (tests that change the environment)."""
    for factory in (settings, auth_modes, redactor, richpanel, queues, dynamodb, dedupe, freshness,
                    delivery):  # fmt: skip
        factory.cache_clear()
    parameters = sys.modules.get("aws_lambda_powertools.utilities.parameters")
    if parameters is not None:  # never imported: nothing cached (and no boto3 to load)
        parameters.clear_caches()
