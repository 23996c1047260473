"""Per-container singletons: settings, the pooled Richpanel client, parking, delivery."""

from __future__ import annotations

from functools import cache

from .delivery.dedupe import Deduplicator
from .delivery.deliver import Delivery
from .delivery.park import Parking
from .richpanel.client import RichpanelClient
from .settings import Settings


@cache
def settings() -> Settings:
    return Settings.from_env()


@cache
def richpanel() -> RichpanelClient:
    s = settings()
    return RichpanelClient(s, pool_size=s.delivery_concurrency)


@cache
def parking() -> Parking:
    return Parking(settings())


@cache
def dedupe() -> Deduplicator | None:
    """Idempotency on messageId, or None (switched off) when no table is configured."""
    s = settings()
    return Deduplicator(s.idempotency_table, s.idempotency_ttl) if s.idempotency_table else None


@cache
def delivery() -> Delivery:
    s = settings()
    return Delivery(
        richpanel(),
        parking(),
        dedupe=dedupe(),
        concurrency=s.delivery_concurrency,
        budget=s.delivery_budget,
        screens_as_page_views=s.screens_as_page_views,
    )


def reset() -> None:
    """Forget the singletons (tests that change the environment)."""
    for factory in (settings, richpanel, parking, dedupe, delivery):
        factory.cache_clear()
