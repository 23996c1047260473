"""Per-container singletons: settings, the pooled Richpanel client and SQS parking."""

from __future__ import annotations

from functools import cache

from .delivery.park import Parking
from .richpanel.client import RichpanelClient
from .settings import Settings


@cache
def settings() -> Settings:
    return Settings.from_env()


@cache
def richpanel() -> RichpanelClient:
    return RichpanelClient(settings())


@cache
def parking() -> Parking:
    return Parking(settings())


def reset() -> None:
    """Forget the singletons (tests that change the environment)."""
    for factory in (settings, richpanel, parking):
        factory.cache_clear()
