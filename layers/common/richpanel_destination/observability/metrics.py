"""CloudWatch metrics as EMF lines (Powertools), aggregated per invocation.

Namespace and the ``service`` dimension come from POWERTOOLS_METRICS_NAMESPACE and
POWERTOOLS_SERVICE_NAME. One metric set per event type and per Richpanel status class
keeps a 2,500-event batch to a handful of log lines, and ``_print`` packs the sets of an
invocation into as few EMF lines as the format allows: one line may hold several metric
directives, so a single event's fates and its Richpanel call share one line.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

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
MAX_VALUES = 99  # EMF takes 100 values a metric; Powertools prints the set by itself at 100
BREAKER_METRIC = "RichpanelBreaker"  # counted per Change: opened, reopened, probe, closed
REFUSED_METRIC = "ProfileFieldsRefused"  # fields a browser key may not set, removed


def _metric_set(
    dimensions: Mapping[str, str],
    counts: Mapping[str, float],
    latencies: Iterable[float] = (),
) -> dict[str, Any]:
    """One EMF document (Powertools' serialisation) for these dimensions."""
    metrics = EphemeralMetrics()
    for dimension, label in dimensions.items():
        metrics.add_dimension(name=dimension, value=label)
    for name, count in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)
    for latency in list(latencies)[:MAX_VALUES]:
        metrics.add_metric(name="RichpanelLatency", unit=MetricUnit.Milliseconds, value=latency)
    return dict(metrics.serialize_metric_set())


def _fits(line: Mapping[str, Any], document: Mapping[str, Any]) -> bool:
    """Whether ``document`` can join ``line``: no root key (dimension or metric) differs."""
    return all(line.get(k, v) == v for k, v in document.items() if k != "_aws")


def _print(documents: Iterable[dict[str, Any]]) -> None:
    """The documents as few EMF lines: each joins the first line whose keys it agrees with."""
    if is_metrics_disabled():
        return
    lines: list[dict[str, Any]] = []
    for document in documents:
        line = next((line for line in lines if _fits(line, document)), None)
        if line is None:
            lines.append(document)
            continue
        line["_aws"]["CloudWatchMetrics"] += document["_aws"]["CloudWatchMetrics"]
        line.update((k, v) for k, v in document.items() if k != "_aws")
    for line in lines:
        print(json.dumps(line, separators=(",", ":")))


def event_type(value: str | None) -> str:
    """A bounded dimension value: unknown types must not explode cardinality."""
    return value if value in KNOWN_TYPES else "unknown"


def _calls(calls: Iterable[tuple[str, float]]) -> list[dict[str, Any]]:
    """RichpanelCalls and RichpanelLatency per status class, from (class, ms) pairs."""
    by_class: defaultdict[str, list[float]] = defaultdict(list)
    for status_class, latency in calls:
        by_class[status_class].append(latency)
    return [
        _metric_set({"StatusClass": status_class}, {"RichpanelCalls": len(latencies)}, latencies)
        for status_class, latencies in sorted(by_class.items())
    ]


def record_ingest(
    results: list[EventResult], refused: Mapping[int, tuple[str, ...]] | None = None
) -> None:
    """Events received and their fates per event type, and the Richpanel calls made.

    ``refused``: the profile fields removed from a browser key's events, by event index
    (counted as ProfileFieldsRefused in the event type's set: no line of its own).
    """
    per_type: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for result in results:
        counts = per_type[event_type(result.type)]
        counts["EventsReceived"] += 1
        counts[EVENT_METRICS[result.fate]] += 1
        if result.record_failed:
            counts[RECORD_FAILED_METRIC] += 1
        if refused and result.index in refused:
            counts[REFUSED_METRIC] += len(refused[result.index])
    documents = [
        _metric_set({"EventType": name}, counts) for name, counts in sorted(per_type.items())
    ]
    documents += _calls(
        (r.status_class, r.latency_ms)
        for r in results
        if r.status_class is not None and r.latency_ms is not None
    )
    _print(documents + _breaker_sets())


def record_retries(outcomes: Counter[str], calls: list[tuple[str, float]]) -> None:
    """RetryAttempts and what they led to, for one batch of the retry queue."""
    counts = {RETRY_METRICS[k]: v for k, v in outcomes.items() if k in RETRY_METRICS}
    if outcomes["record_failed"]:
        counts[RECORD_FAILED_METRIC] = outcomes["record_failed"]
    counts["RetryAttempts"] = sum(v for k, v in outcomes.items() if k != "record_failed")
    _print([_metric_set({}, counts), *_calls(calls), *_breaker_sets()])


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


def _breaker_sets() -> list[dict[str, Any]]:
    """The breaker changes counted since the last flush, one metric set per change kind."""
    with _breaker_lock:
        changes = dict(_breaker_changes)
        _breaker_changes.clear()
    return [
        _metric_set({"Change": change}, {BREAKER_METRIC: count})
        for change, count in sorted(changes.items())
    ]


def flush_breaker() -> None:
    """Print the breaker changes counted since the last flush."""
    _print(_breaker_sets())
