"""Audit Lambda: an EventBridge schedule in, EventsUnaccounted out; the run is
richpanel_destination.audit.

Publishes EventsUnaccounted (the events accepted in the audited window that reached no final
fate and are no longer in the retry queue) and EventsAudited as EMF, and logs one
"event unaccounted" line per such messageId. A run that fails raises (the Errors alarm).
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from richpanel_destination import accounting, audit, runtime
from richpanel_destination.observability import logs

logger = logs.new_logger(runtime.redactor())
metrics = Metrics()
MAX_LISTED = 100  # messageIds logged a run; the metric counts them all


@logs.inject_invocation(logger)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = audit.AuditConfig.from_env()
    result = audit.run(config, boto3.client("logs"))
    unaccounted = len(result.unaccounted)
    metrics.add_metric(name="EventsUnaccounted", unit=MetricUnit.Count, value=unaccounted)
    metrics.add_metric(name="EventsAudited", unit=MetricUnit.Count, value=result.accepted)
    for account in result.unaccounted[:MAX_LISTED]:
        logger.warning(
            "event unaccounted",
            extra={
                "messageId": account.message_id,
                "lastState": account.last_state,
                "lastSeen": accounting.format_timestamp(account.last_ms),
            },
        )
    summary = {
        "windowStart": accounting.format_timestamp(result.start_ms),
        "windowEnd": accounting.format_timestamp(result.end_ms),
        "audited": result.accepted,
        "unaccounted": unaccounted,
    }
    logger.info("audit done", extra=summary)
    return summary
