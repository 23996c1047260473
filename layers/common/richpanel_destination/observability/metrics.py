"""CloudWatch metrics as EMF lines (Powertools), aggregated per invocation.

Namespace and the ``service`` dimension come from POWERTOOLS_METRICS_NAMESPACE and
POWERTOOLS_SERVICE_NAME. One EMF blob per event type and per Richpanel status class keeps
a 2,500-event batch to a handful of log lines.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from ..calls import CALL_TYPES
from ..delivery.results import EventResult, Fate

KNOWN_TYPES = frozenset(CALL_TYPES)
EVENT_METRICS: Mapping[Fate, str] = {
    Fate.DELIVERED: "EventsDelivered",
    Fate.QUEUED: "EventsQueued",
    Fate.DUPLICATE: "EventsDuplicate",
    Fate.SUPERSEDED: "EventsSuperseded",
    Fate.DEAD_LETTERED: "EventsDeadLettered",
    Fate.REJECTED: "EventsRejected",
    Fate.SKIPPED: "EventsSkipped",
    Fate.FAILED: "EventsFailed",
}
RETRY_METRICS: Mapping[str, str] = {
    "delivered": "RetryDelivered",
    "duplicate": "RetryDuplicate",
    "superseded": "RetrySuperseded",
    "dead_lettered": "RetryDeadLettered",
    "queued": "RetryScheduled",  # stays queued for another attempt
}
RECORD_FAILED_METRIC = "DeliveryRecordsNotSaved"  # delivered; a resend would not be caught
MAX_VALUES = 100  # EMF takes at most 100 values per metric
BREAKER_METRIC = "RichpanelBreaker"  # counted per Change: opened, reopened, probe, closed


def _emit(
    dimensions: Mapping[str, str],
    counts: Mapping[str, float],
    latencies: Iterable[float] = (),
) -> None:
    metrics = EphemeralMetrics()
    for dimension, label in dimensions.items():
        metrics.add_dimension(name=dimension, value=label)
    for name, count in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)
    for latency in list(latencies)[:MAX_VALUES]:
        metrics.add_metric(name="RichpanelLatency", unit=MetricUnit.Milliseconds, value=latency)
    metrics.flush_metrics()


def event_type(value: str | None) -> str:
    """A bounded dimension value: unknown types must not explode cardinality."""
    return value if value in KNOWN_TYPES else "unknown"


def record_calls(calls: Iterable[tuple[str, float]]) -> None:
    """RichpanelCalls and RichpanelLatency per status class, from (class, ms) pairs."""
    by_class: defaultdict[str, list[float]] = defaultdict(list)
    for status_class, latency in calls:
        by_class[status_class].append(latency)
    for status_class, latencies in sorted(by_class.items()):
        _emit({"StatusClass": status_class}, {"RichpanelCalls": len(latencies)}, latencies)


def record_ingest(results: list[EventResult]) -> None:
    """Events received and their fates per event type, and the Richpanel calls made."""
    per_type: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for result in results:
        counts = per_type[event_type(result.type)]
        counts["EventsReceived"] += 1
        counts[EVENT_METRICS[result.fate]] += 1
        if result.record_failed:
            counts[RECORD_FAILED_METRIC] += 1
    for name, counts in sorted(per_type.items()):
        _emit({"EventType": name}, counts)
    record_calls(
        (r.status_class, r.latency_ms)
        for r in results
        if r.status_class is not None and r.latency_ms is not None
    )
    flush_breaker()


def record_retries(outcomes: Counter[str], calls: list[tuple[str, float]]) -> None:
    """RetryAttempts and what they led to, for one batch of the retry queue."""
    counts = {RETRY_METRICS[k]: v for k, v in outcomes.items() if k in RETRY_METRICS}
    if outcomes["record_failed"]:
        counts[RECORD_FAILED_METRIC] = outcomes["record_failed"]
    counts["RetryAttempts"] = sum(v for k, v in outcomes.items() if k != "record_failed")
    _emit({}, counts)
    record_calls(calls)
    flush_breaker()


_breaker_changes: Counter[str] = Counter()  # since the last flush, from any thread
_breaker_lock = threading.Lock()


def record_breaker(change: str, details: dict[str, object]) -> None:
    """A change of the circuit breaker's state: one log line now, and one metric counted
    for the invocation's flush (sends run on worker threads: an EMF line printed there
    could land inside another thread's log line)."""
    from aws_lambda_powertools import Logger

    level = "warning" if change in ("opened", "reopened") else "info"
    getattr(Logger(child=True), level)(f"circuit {change}", extra={"breaker": change} | details)
    with _breaker_lock:
        _breaker_changes[change] += 1


def flush_breaker() -> None:
    """The breaker changes counted since the last flush, one EMF line per change kind."""
    with _breaker_lock:
        changes = dict(_breaker_changes)
        _breaker_changes.clear()
    for change, count in sorted(changes.items()):
        _emit({"Change": change}, {BREAKER_METRIC: count})
