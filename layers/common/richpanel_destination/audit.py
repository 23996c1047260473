"""The scheduled conservation audit (accounting.py has the definition).

Each run looks at the events accepted in a closed window of ``period`` seconds that ended
``retry_window + margin`` ago, over the functions' log groups with Logs Insights, and returns
how many of them have no final fate (``EventsUnaccounted``; the handler publishes it as EMF
and logs each one's messageId). Settings come from the environment the template sets:
AUDIT_LOG_GROUPS (comma-separated), RETRY_WINDOW_SECONDS, AUDIT_MARGIN_SECONDS,
AUDIT_PERIOD_SECONDS.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import accounting
from .observability.insights import run_query


@dataclass(frozen=True)
class AuditConfig:
    log_groups: Sequence[str]
    retry_window: int = 86_400
    margin: int = accounting.DEFAULT_MARGIN_SECONDS
    period: int = 3600

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AuditConfig:
        env = os.environ if environ is None else environ
        groups = [g.strip() for g in env.get("AUDIT_LOG_GROUPS", "").split(",") if g.strip()]
        if not groups:
            raise ValueError("AUDIT_LOG_GROUPS is empty: no log group to audit")
        return cls(
            groups,
            int(env.get("RETRY_WINDOW_SECONDS") or cls.retry_window),  # the fields' defaults
            int(env.get("AUDIT_MARGIN_SECONDS") or cls.margin),
            int(env.get("AUDIT_PERIOD_SECONDS") or cls.period),
        )

    def window(self, now_ms: int) -> tuple[int, int]:
        """The closed window [start, end) (epoch ms) this run audits: aligned to the period."""
        end_s = (now_ms // 1000 - self.retry_window - self.margin) // self.period * self.period
        return (end_s - self.period) * 1000, end_s * 1000


def run(
    config: AuditConfig, client: Any, now_ms: int | None = None, **query: Any
) -> accounting.AuditResult:
    """Audit one window over Logs Insights: the lines from its start until now."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    start_ms, end_ms = config.window(now)
    rows = run_query(
        client,
        config.log_groups,
        accounting.audit_query(end_ms),
        start_ms // 1000,
        now // 1000,
        **query,
    )
    accounts = accounting.from_stats(rows)
    return accounting.audit(accounts, start_ms, end_ms, now, config.retry_window, config.margin)
