"""Canary Lambda: an EventBridge schedule in, metrics out; the run is richpanel_destination.canary.

Publishes CanarySent, CanaryArrived (1/0) and CanaryLag (ms) as EMF. A run that cannot
start (configuration, secrets, the read-back) raises and publishes nothing: the alarm treats
missing data as breaching.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from richpanel_destination import canary, runtime
from richpanel_destination.observability import logs

logger = logs.new_logger(runtime.redactor())
metrics = Metrics()


@logs.inject_invocation(logger)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = canary.CanaryConfig.from_env()
    result = canary.run(config, canary.scheduled_time(event))
    metrics.add_metric(name="CanaryArrived", unit=MetricUnit.Count, value=int(result.arrived))
    if result.lag_ms is not None:
        metrics.add_metric(name="CanaryLag", unit=MetricUnit.Milliseconds, value=result.lag_ms)
    metrics.add_metric(name="CanarySent", unit=MetricUnit.Count, value=int(result.sent))
    summary = {
        "arrived": result.arrived,
        "seenMarker": result.seen_marker,
        "lagMs": result.lag_ms,
        "sentMarker": result.sent_marker,
        "sent": result.sent,
        "sendStatus": result.send_status,
    }
    if result.arrived and result.sent:
        logger.info("canary ok", extra=summary)
    else:
        logger.warning("canary miss" if not result.arrived else "canary not sent", extra=summary)
    return summary
