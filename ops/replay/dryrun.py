"""--dry-run: each event validated, filtered and mapped here by the layer's own functions
(richpanel_destination.ingest.prepare: validate_event, skip_reason, to_richpanel), with the
settings of this environment (the code's defaults unless ORDER_FIELDS etc. are set).
Nothing is sent and no checkpoint is written. What only the target knows (duplicate,
superseded, queued) cannot be told here: a valid event counts as ``to send``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from .run import Rejects, Tally
from .sources import Record

TO_SEND = "to send"


def dry_run(found: Iterable[Record], tally: Tally, rejects: Rejects, sample: int) -> list[Any]:
    """Tally every record's local fate; the first ``sample`` Richpanel calls."""
    from richpanel_destination.delivery.deliver import Pending
    from richpanel_destination.ingest import prepare

    calls: list[Any] = []
    received_ms = int(time.time() * 1000)
    for index, record in enumerate(found):
        prepared = prepare(index, record.event, received_ms)
        if isinstance(prepared, Pending):
            tally.add(record, TO_SEND)
            if len(calls) < sample:
                calls.append({"at": record.where, "call": prepared.call})
            continue
        fate = prepared.fate.value
        tally.add(record, fate)
        if fate == "rejected":
            rejects.write(record, fate, prepared.reason, prepared.errors)
    return calls
