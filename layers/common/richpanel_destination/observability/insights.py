"""CloudWatch Logs Insights: one query over log groups in a time range, polled to its end.

StartQuery, then GetQueryResults every ``poll`` seconds until the query is Complete (or
Failed, Cancelled, Timeout: an InsightsError). Used by the audit function and ops/trace.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..accounting import insights_rows

DONE = frozenset({"Complete"})
FAILED = frozenset({"Failed", "Cancelled", "Timeout", "Unknown"})


class InsightsError(Exception):
    """The query did not complete."""


def run_query(
    client: Any,
    log_groups: Sequence[str],
    query: str,
    start_s: int,
    end_s: int,
    *,
    poll: float = 1.0,
    timeout: float = 300.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[dict[str, Any]]:
    """The rows (field -> value) of ``query`` over ``log_groups``, start_s to end_s (epoch s)."""
    started = client.start_query(
        logGroupNames=list(log_groups),
        startTime=int(start_s),
        endTime=int(end_s),
        queryString=query,
    )
    query_id = started["queryId"]
    deadline = clock() + timeout
    while True:
        response = client.get_query_results(queryId=query_id)
        status = response.get("status")
        if status in DONE:
            return insights_rows(response)
        if status in FAILED:
            raise InsightsError(f"Logs Insights query {query_id} ended {status}")
        if clock() >= deadline:
            with contextlib.suppress(Exception):  # best effort: the timeout is what we report
                client.stop_query(queryId=query_id)
            raise InsightsError(f"Logs Insights query {query_id} still {status} after {timeout}s")
        sleep(poll)
