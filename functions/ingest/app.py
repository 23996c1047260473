"""Ingest Lambda: API Gateway in and out; the path itself is richpanel_destination.ingest.

One module serves both APIs the template can put in front of it (ApiKind): the REST API's
proxy events (payload format 1.0) and the HTTP API's (2.0: rawPath, routeKey,
requestContext.http.method, lower-case headers, cookies apart). The payload's ``version``
chooses the resolver; only this module translates, ingest.Request is the same for both.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import (
    APIGatewayHttpResolver,
    APIGatewayRestResolver,
    CORSConfig,
    Response,
    content_types,
)
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

from richpanel_destination import ingest, runtime
from richpanel_destination.inbound import cors
from richpanel_destination.inbound.request import ROUTES, header
from richpanel_destination.observability import logs, tracing

logger = ingest.logger
tracer = tracing.tracer()
metrics = Metrics()


class _CorsConfig(CORSConfig):
    """Powertools' CORS headers with exactly our Allow-Headers (not its X-Amz-* defaults)."""

    _REQUIRED_HEADERS: list[str] = []


def cors_config(origins: cors.AllowedOrigins) -> CORSConfig | None:
    """The resolvers' CORS (AllowedOrigins): None when no browser origin may send."""
    if not origins:
        return None
    first, *extra = [cors.ANY_ORIGIN] if origins.any else list(origins.origins)
    return _CorsConfig(
        allow_origin=first,
        extra_origins=extra,
        allow_headers=list(cors.ALLOWED_HEADERS),
        max_age=cors.MAX_AGE_SECONDS,
    )


ORIGINS = cors.AllowedOrigins.from_environment()  # the template's AllowedOrigins
rest_app = APIGatewayRestResolver(cors=cors_config(ORIGINS))
http_app = APIGatewayHttpResolver(cors=cors_config(ORIGINS))
app = rest_app  # the REST API's resolver (the template's default ApiKind)

# What each API answers itself for a path it has no route for; the handler only sees the
# template's routes, but answers the same should /v1/<other> ever reach it.
REST_NO_ROUTE = (403, '{"message":"Missing Authentication Token"}')
HTTP_NO_ROUTE = (404, '{"message":"Not Found"}')


def _headers(event: dict[str, Any]) -> dict[str, str]:
    """The request's headers; a payload 2.0 event's cookies go back into one Cookie header."""
    headers = dict(event.get("headers") or {})
    cookies = event.get("cookies")
    if cookies and not any(name.lower() == "cookie" for name in headers):
        headers["cookie"] = "; ".join(cookies)
    return headers


def _json(status: int, body: dict[str, Any], headers: dict[str, str]) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, separators=(",", ":")),
        headers=headers or None,
    )


def _refused_origin(origin: str) -> Response[str]:
    """403 for an Origin not in AllowedOrigins (Powertools adds no CORS headers to it)."""
    message = ORIGINS.refusal(origin)
    logger.warning("request refused", extra={"reason": message})
    return _json(403, {"message": message}, {"Vary": "Origin"})


def _answer(resolver: ApiGatewayResolver, route: str, no_route: tuple[int, str]) -> Response[str]:
    started = time.monotonic()
    if route not in ROUTES:  # API Gateway routes only the template's paths
        return Response(no_route[0], content_types.APPLICATION_JSON, no_route[1])
    event = resolver.current_event
    headers = _headers(event.raw_event)
    origin = header(headers, "Origin")
    # A text/plain or beacon POST is not preflighted: the Origin check is here, not in CORS.
    if not ORIGINS.allows(origin):
        return _refused_origin(str(origin))
    request = ingest.Request(route, event.body, bool(event.is_base64_encoded), headers)
    answer = ingest.ingest(request, started)
    extra = {"Vary": "Origin"} if origin is not None else {}
    return _json(answer.status, answer.body, answer.headers | extra)


def _preflight(
    resolver: ApiGatewayResolver, route: str, no_route: tuple[int, str]
) -> Response[str]:
    """A CORS preflight: 204 for an allowed Origin (Powertools adds Allow-Origin, Allow-Headers
    and Max-Age), 403 for any other; no authentication, a preflight carries no credentials."""
    if route not in ROUTES:
        return Response(no_route[0], content_types.APPLICATION_JSON, no_route[1])
    allow = ", ".join(cors.ALLOWED_METHODS)
    origin = header(_headers(resolver.current_event.raw_event), "Origin")
    if origin is None:  # a plain OPTIONS, not a preflight: which methods the route takes
        return Response(204, None, "", headers={"Allow": allow})
    if not ORIGINS.allows(origin):
        return _refused_origin(origin)
    headers = {"Access-Control-Allow-Methods": allow, "Vary": "Origin"}
    return Response(204, None, "", headers=headers)


@rest_app.post("/v1/<route>")
def post(route: str) -> Response[str]:
    return _answer(rest_app, route, REST_NO_ROUTE)


@http_app.post("/v1/<route>")
def post_http(route: str) -> Response[str]:
    return _answer(http_app, route, HTTP_NO_ROUTE)


@rest_app.route("/v1/<route>", method="OPTIONS")
def options(route: str) -> Response[str]:
    return _preflight(rest_app, route, REST_NO_ROUTE)


@http_app.route("/v1/<route>", method="OPTIONS")
def options_http(route: str) -> Response[str]:
    return _preflight(http_app, route, HTTP_NO_ROUTE)


def payload_version(event: dict[str, Any]) -> str:
    """ "2.0" for an HTTP API payload format 2.0 event, "1.0" for a REST API proxy event."""
    return "2.0" if event.get("version") == "2.0" else "1.0"


# requestContext.requestId: in both payload formats
@logs.inject_invocation(logger, correlation_id=logs.api_gateway_request_id)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    runtime.register_lambda_context(context)
    resolver = http_app if payload_version(event) == "2.0" else rest_app
    return resolver.resolve(event, context)
