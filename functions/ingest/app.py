"""Ingest Lambda: API Gateway in and out; the path itself is richpanel_destination.ingest."""

from __future__ import annotations

import json
import time
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from richpanel_destination import ingest, runtime
from richpanel_destination.inbound.request import ROUTES
from richpanel_destination.observability import logs, tracing

logger = ingest.logger
tracer = tracing.tracer()
metrics = Metrics()
app = APIGatewayRestResolver()


@app.post("/v1/<route>")
def post(route: str) -> Response[str]:
    started = time.monotonic()
    if route not in ROUTES:  # API Gateway routes only the template's paths
        return Response(
            403, content_types.APPLICATION_JSON, '{"message":"Missing Authentication Token"}'
        )
    current = app.current_event
    request = ingest.Request(
        route, current.body, bool(current.is_base64_encoded), dict(current.headers or {})
    )
    answer = ingest.ingest(request, started)
    return Response(
        status_code=answer.status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(answer.body, separators=(",", ":")),
        headers=answer.headers or None,
    )


@logs.inject_invocation(logger, correlation_id=logs.api_gateway_request_id)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    runtime.register_lambda_context(context)
    return app.resolve(event, context)
