"""Ingest Lambda: Segment calls in over API Gateway, Richpanel calls out."""

from __future__ import annotations

import json
import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from richpanel_destination import runtime
from richpanel_destination.delivery.results import RETRY_AFTER_SECONDS, Fate, response
from richpanel_destination.inbound.auth import Unauthorized, authenticate
from richpanel_destination.inbound.decode import BadRequest
from richpanel_destination.inbound.limits import LimitExceeded
from richpanel_destination.inbound.request import ROUTES, WEBHOOK, read_request
from richpanel_destination.observability import tracing
from richpanel_destination.observability.metrics import record_ingest
from richpanel_destination.secrets import SecretError

logger = Logger(json_serializer=runtime.redactor().serializer)
tracer = tracing.tracer()
metrics = Metrics()
app = APIGatewayRestResolver()


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
@app.exception_handler(LimitExceeded)  # type: ignore[untyped-decorator]
def bad_request(exc: ValueError) -> Response[str]:
    logger.info("request rejected", extra={"reason": str(exc)})
    return _json(getattr(exc, "status", 400), {"message": str(exc)})


@app.exception_handler(Unauthorized)  # type: ignore[untyped-decorator]
def unauthorized(exc: Unauthorized) -> Response[str]:
    logger.warning("request refused", extra={"reason": str(exc)})
    return _json(401, {"message": f"Unauthorized: {exc}"})


@app.exception_handler(SecretError)  # type: ignore[untyped-decorator]
def secrets_unavailable(exc: SecretError) -> Response[str]:
    logger.error("inbound credentials unavailable", extra={"reason": str(exc)})
    message = "Credentials are unavailable; retry the request"
    return _json(503, {"message": message}, {"Retry-After": str(RETRY_AFTER_SECONDS)})


@app.post("/v1/<route>")
def ingest(route: str) -> Response[str]:
    if route not in ROUTES:
        return _json(404, {"message": f"No route for /v1/{route}"})
    started = time.monotonic()
    current = app.current_event
    headers = dict(current.headers or {})

    def admit(raw: bytes, payload: Any) -> None:
        how = authenticate(runtime.auth_modes(), runtime.inbound_credentials, headers, raw, payload)
        logger.append_keys(auth=how)

    request = read_request(
        route, current.body, is_base64=bool(current.is_base64_encoded), headers=headers, admit=admit
    )
    forwarded = request.kind == WEBHOOK  # Segment already applied the Integrations object
    results = runtime.delivery().deliver(request.events, started=started, forwarded=forwarded)
    record_ingest(results)
    for result in results:
        line = result.log_line()
        if result.fate is Fate.REJECTED:  # what was wrong, redacted and truncated
            line["payload"] = runtime.redactor().payload(request.events[result.index])
        logger.info("event outcome", extra=line)
    status, body, extra_headers = response(results, single=request.single, kind=request.kind)
    return _json(status, body, extra_headers or None)


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    dedupe = runtime.dedupe()
    if dedupe is not None:
        dedupe.register_lambda_context(context)
    return app.resolve(event, context)
