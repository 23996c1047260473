"""Ingest Lambda: Segment calls in over API Gateway, Richpanel calls out."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from richpanel_destination import runtime
from richpanel_destination.delivery.deliver import deliver_events
from richpanel_destination.delivery.results import Fate, http_status, summary
from richpanel_destination.inbound.decode import (
    BATCH,
    ROUTED_TYPES,
    BadRequest,
    events_from_payload,
    parse_body,
)

logger = Logger()
tracer = Tracer()
app = APIGatewayRestResolver()

RETRY_AFTER_SECONDS = "30"


def _json(
    status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(payload, separators=(",", ":")),
        headers=headers,
    )


@app.exception_handler(BadRequest)  # type: ignore[untyped-decorator]
def bad_request(exc: BadRequest) -> Response[str]:
    logger.info("request rejected", extra={"reason": str(exc)})
    return _json(400, {"message": str(exc)})


@app.post("/v1/<call_type>")
def ingest(call_type: str) -> Response[str]:
    if call_type not in ROUTED_TYPES:
        return _json(404, {"message": f"No route for /v1/{call_type}"})
    request = app.current_event
    payload = parse_body(request.body, is_base64=bool(request.is_base64_encoded))
    events = events_from_payload(payload, call_type)
    results = deliver_events(events, runtime.richpanel(), runtime.parking())
    for result in results:
        logger.info(
            "event outcome", extra={k: v for k, v in result.as_dict().items() if k != "errors"}
        )

    status = http_status(results, single=call_type != BATCH)
    body: dict[str, Any] = {"summary": summary(results), "results": [r.as_dict() for r in results]}
    headers = None
    if status == 400:
        body["message"] = f"Invalid {call_type} call: {results[0].reason}"
    elif status == 503:
        failed = [r.index for r in results if r.fate is Fate.FAILED]
        body["message"] = f"Events {failed} were neither delivered nor queued; retry the request"
        headers = {"Retry-After": RETRY_AFTER_SECONDS}
    return _json(status, body, headers)


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
