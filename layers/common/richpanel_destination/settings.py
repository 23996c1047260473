"""Runtime settings, read once per container from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from .delivery.freshness import STALE_ORDER_EVENTS
from .inbound.scopes import DEFAULT_BROWSER_PROFILE_FIELDS, parse_fields
from .limits import MAX_RICHPANEL_BATCH
from .mapping.table import ORDER_FIELDS

Signing = Literal["none", "md5", "sha256"]
SIGNINGS: tuple[Signing, ...] = ("none", "md5", "sha256")


class SettingsError(ValueError):
    """A setting is missing or malformed."""


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "false", "0", "no", "off"):
        return False
    if raw in ("true", "1", "yes", "on"):
        return True
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    raw = env.get(name, "").strip() or default
    if raw not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def _batch_size(env: Mapping[str, str]) -> int:
    """RICHPANEL_BATCH_SIZE: 0 (or 1) = one /t call per event; 2..50 = /bt chunk size."""
    name, raw = "RICHPANEL_BATCH_SIZE", env.get("RICHPANEL_BATCH_SIZE", "").strip()
    if raw == "":
        return 0
    try:
        size = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc
    if not 0 <= size <= MAX_RICHPANEL_BATCH:
        raise SettingsError(f"{name} must be from 0 to {MAX_RICHPANEL_BATCH}, got {size}")
    return size


def _seconds(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole number of seconds, 0 or more."""
    raw = env.get(name, "").strip()
    if raw == "":
        return default
    try:
        seconds = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number of seconds, got {raw!r}") from exc
    if seconds < 0:
        raise SettingsError(f"{name} must be 0 or more, got {seconds}")
    return seconds


def _fields(env: Mapping[str, str]) -> frozenset[str]:
    """BROWSER_PROFILE_FIELDS: comma-separated field names, none, or unset (the default)."""
    try:
        return parse_fields(env.get("BROWSER_PROFILE_FIELDS"))
    except ValueError as exc:
        raise SettingsError(str(exc)) from exc


@dataclass(frozen=True)
class Settings:
    """What the handlers need to know about Richpanel and the queues."""

    base_url: str = "https://api.richpanel.com/v2"
    richpanel_secret_arn: str = ""
    inbound_secret_arn: str = ""
    inbound_auth: str = ""  # writekey, webhook, writekey,webhook or none
    secrets_max_age: int = 300
    log_personal_data: bool = False
    signing: Signing = "md5"
    connect_timeout: float = 2.0
    read_timeout: float = 3.0
    retry_queue_url: str = ""
    dead_letter_queue_url: str = ""
    backoff_base: float = 10.0
    backoff_cap: float = 3600.0
    screens_as_page_views: bool = False
    delivery_concurrency: int = 16
    delivery_budget: float = 4.0
    idempotency_table: str = ""
    idempotency_ttl: int = 172_800
    max_receive_count: int = 0  # the retry queue's maxReceiveCount; 0 = unknown
    retry_window: int = 86_400  # seconds on the retry queue before giving up; 0 = no limit
    richpanel_batch_size: int = 0  # /bt chunk size; 0 (or 1) = one /t call per event
    order_fields: str = "both"  # order field names: documented (camelCase), plugin, or both
    freshness_table: str = ""  # the freshest-data guard's marks; "" = the guard is off
    freshness_ttl: int = 34_560_000  # marks kept 400 days after their customer's last update
    stale_order_events: str = "strip"  # a stale order event: strip its state, or supersede
    # an X-Signature-admitted event received by Segment longer ago is a replay; 0 = no limit
    webhook_signature_max_age: int = 86_400
    # the circuit breaker: consecutive failures that open it (0 = off), seconds it stays open
    breaker_failures: int = 5
    breaker_cooldown: float = 30.0
    breaker_table: str = ""  # where its shared item lives ("" = the idempotency table)
    # the profile fields a browser key's calls may set (inbound/scopes.py)
    browser_profile_fields: frozenset[str] = DEFAULT_BROWSER_PROFILE_FIELDS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables (the names template.yaml sets)."""
        env = os.environ if env is None else env
        signing = env.get("RICHPANEL_SIGNING", "md5") or "md5"
        if signing not in SIGNINGS:
            raise SettingsError(f"RICHPANEL_SIGNING must be one of {SIGNINGS}, got {signing!r}")
        return cls(
            base_url=(env.get("RICHPANEL_BASE_URL") or cls.base_url).rstrip("/"),
            richpanel_secret_arn=env.get("RICHPANEL_SECRET_ARN", ""),
            inbound_secret_arn=env.get("INBOUND_SECRET_ARN", ""),
            inbound_auth=env.get("INBOUND_AUTH", ""),
            secrets_max_age=int(_float(env, "SECRETS_MAX_AGE_SECONDS", 300)),
            log_personal_data=_bool(env, "LOG_PERSONAL_DATA"),
            signing=signing,
            connect_timeout=_float(env, "RICHPANEL_CONNECT_TIMEOUT_SECONDS", 2.0),
            read_timeout=_float(env, "RICHPANEL_READ_TIMEOUT_SECONDS", 3.0),
            retry_queue_url=env.get("RETRY_QUEUE_URL", ""),
            dead_letter_queue_url=env.get("DEAD_LETTER_QUEUE_URL", ""),
            backoff_base=_float(env, "RETRY_BACKOFF_BASE_SECONDS", 10.0),
            backoff_cap=_float(env, "RETRY_BACKOFF_CAP_SECONDS", 3600.0),
            screens_as_page_views=_bool(env, "SCREENS_AS_PAGE_VIEWS"),
            delivery_concurrency=max(1, int(_float(env, "DELIVERY_CONCURRENCY", 16))),
            delivery_budget=_float(env, "DELIVERY_BUDGET_SECONDS", 4.0),
            idempotency_table=env.get("IDEMPOTENCY_TABLE", ""),
            idempotency_ttl=int(_float(env, "IDEMPOTENCY_TTL_SECONDS", 172_800)),
            max_receive_count=int(_float(env, "MAX_RECEIVE_COUNT", 0)),
            retry_window=_seconds(env, "RETRY_WINDOW_SECONDS", 86_400),
            richpanel_batch_size=_batch_size(env),
            order_fields=_choice(env, "RICHPANEL_ORDER_FIELDS", ORDER_FIELDS, "both"),
            freshness_table=env.get("FRESHNESS_TABLE", ""),
            freshness_ttl=_seconds(env, "FRESHNESS_TTL_SECONDS", 34_560_000),
            stale_order_events=_choice(env, "STALE_ORDER_EVENTS", STALE_ORDER_EVENTS, "strip"),
            webhook_signature_max_age=_seconds(env, "WEBHOOK_SIGNATURE_MAX_AGE_SECONDS", 86_400),
            breaker_failures=_seconds(env, "BREAKER_FAILURES", 5),
            breaker_cooldown=_float(env, "BREAKER_COOLDOWN_SECONDS", 30.0),
            breaker_table=env.get("BREAKER_TABLE", "") or env.get("IDEMPOTENCY_TABLE", ""),
            browser_profile_fields=_fields(env),
        )
