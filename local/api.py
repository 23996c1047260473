"""Local stand-ins for API Gateway: the REST API (proxy integration, payload format 1.0) and the
HTTP API (Lambda proxy integration, payload format 2.0), each answering as the real one does
where no route matches or the function fails."""

from __future__ import annotations

import base64
import binascii
import json
import re
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from local._http import BackgroundServer, LocalHTTPServer, QuietHandler, ServerThread
from local.lambda_runtime import Function
from local.template import LOCAL_ACCOUNT_ID, ResolveContext, Template

Invoke = Callable[[dict[str, Any]], Any]

# What API Gateway (REST) answers, as a 403, when no resource and method match the request:
# an unknown path, a method the path does not declare, a missing or wrong stage.
MISSING_TOKEN = {"message": "Missing Authentication Token"}
MISSING_TOKEN_HEADERS = [("x-amzn-ErrorType", "MissingAuthenticationTokenException")]
INTERNAL_ERROR = {"message": "Internal server error"}
# The HTTP API: 404 Not Found for a request no route key matches (path or method), 500 when
# the function fails; its request id header is apigw-requestid.
HTTP_NOT_FOUND = {"message": "Not Found"}
HTTP_INTERNAL_ERROR = {"message": "Internal Server Error"}
REST, HTTP = "rest", "http"
KINDS = (REST, HTTP)
# Content types an HTTP API passes to the function as text; any other body (no Content-Type
# included) arrives base64 (isBase64Encoded). Observed on AWS, not documented as a list.
HTTP_TEXT_TYPES = ("application/json", "application/xml", "application/javascript")
_PARAM = re.compile(r"^\{([^}+]+)(\+?)\}$")
# A gateway response's header value: a static 'value' or one of the request's headers.
_STATIC = re.compile(r"^'(.*)'$")
_REQUEST_HEADER = re.compile(r"^method\.request\.header\.(.+)$")
# The REST API's own answers by gateway response type, and the DEFAULT_* they fall back on.
MISSING_AUTHENTICATION_TOKEN, DEFAULT_4XX, DEFAULT_5XX = (
    "MISSING_AUTHENTICATION_TOKEN",
    "DEFAULT_4XX",
    "DEFAULT_5XX",
)
GatewayResponses = Mapping[str, Mapping[str, str]]


def gateway_response_headers(
    responses: GatewayResponses,
    response_type: str,
    status: int,
    request_headers: Mapping[str, str],
) -> list[tuple[str, str]]:
    """The headers the template's gateway responses add to one of the API's own answers.

    The response type's own entry, else DEFAULT_4XX or DEFAULT_5XX by status; a value mapped
    from a request header the request lacks is left out, as API Gateway does.
    """
    default = DEFAULT_5XX if status >= 500 else DEFAULT_4XX
    spec = responses.get(response_type, responses.get(default)) or {}
    lowered = {name.lower(): value for name, value in request_headers.items()}
    headers: list[tuple[str, str]] = []
    for name, mapping in spec.items():
        if static := _STATIC.match(mapping):
            headers.append((name, static.group(1)))
        elif from_request := _REQUEST_HEADER.match(mapping):
            value = lowered.get(from_request.group(1).lower())
            if value is not None:
                headers.append((name, value))
        else:
            raise ValueError(f"gateway response header {name}: {mapping!r} is not emulated")
    return headers


class MalformedResponseError(ValueError):
    """The handler's return value is not a valid proxy integration response."""


@dataclass
class ApiTarget:
    """One route: method (or ANY), resource path template and what it invokes."""

    method: str
    resource: str
    invoke: Invoke
    _pattern: re.Pattern[str] = field(init=False, repr=False)
    _names: dict[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Compile the resource path ({name} and greedy {name+} segments)."""
        self.method = self.method.upper()
        parts: list[str] = []
        self._names = {}
        for index, segment in enumerate(self.resource.strip("/").split("/")):
            match = _PARAM.match(segment)
            if match is None:
                parts.append(re.escape(segment))
                continue
            group = f"p{index}"
            self._names[group] = match.group(1)
            parts.append(f"(?P<{group}>.+)" if match.group(2) else f"(?P<{group}>[^/]+)")
        self._pattern = re.compile("^/" + "/".join(parts) + "$")

    @property
    def specificity(self) -> tuple[int, int]:
        """Sort key: static routes first, greedy ones last."""
        greedy = "+}" in self.resource
        return (int(greedy), len(self._names))

    def match(self, path: str) -> dict[str, str] | None:
        """Path parameters when path matches this resource, else None."""
        found = self._pattern.match(path)
        if found is None:
            return None
        return {self._names[group]: value for group, value in found.groupdict().items()}


def build_event(
    *,
    method: str,
    raw_path: str,
    resource: str,
    path_parameters: Mapping[str, str],
    headers: list[tuple[str, str]],
    body: bytes,
    stage: str,
    source_ip: str,
    account_id: str = LOCAL_ACCOUNT_ID,
) -> dict[str, Any]:
    """The API Gateway REST proxy event (payload format 1.0) for one request."""
    url = urlsplit(raw_path)
    single_headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        single_headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    single_query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in parse_qsl(url.query, keep_blank_values=True):
        single_query[name] = value
        multi_query.setdefault(name, []).append(value)
    lowered = {name.lower(): value for name, value in single_headers.items()}
    text: str | None
    is_base64 = False
    if not body:
        text = None
    elif "content-encoding" in lowered:
        text, is_base64 = base64.b64encode(body).decode("ascii"), True
    else:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text, is_base64 = base64.b64encode(body).decode("ascii"), True
    now = datetime.now(UTC)
    request_id = str(uuid.uuid4())
    return {
        "resource": resource,
        "path": url.path,
        "httpMethod": method,
        "headers": single_headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": single_query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(path_parameters) or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": account_id,
            "apiId": "local",
            "resourceId": "local",
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/{stage}{url.path}",
            "stage": stage,
            "protocol": "HTTP/1.1",
            "domainName": lowered.get("host", "localhost"),
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent"),
                "accountId": None,
                "apiKey": None,
                "caller": None,
                "user": None,
                "userArn": None,
            },
        },
        "body": text,
        "isBase64Encoded": is_base64,
    }


def http_body_is_text(headers: Mapping[str, str], body: bytes) -> bool:
    """Whether an HTTP API hands this body to the function as text (else base64).

    Text: a text/* or JSON/XML/JavaScript Content-Type. Locally also: no Content-Encoding
    and valid UTF-8, so a gzip body always arrives base64 as through the REST API (what the
    HTTP API does with gzip bytes labelled application/json is unverified, docs/deploy.md).
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    media = lowered.get("content-type", "").split(";", 1)[0].strip().lower()
    if not (media.startswith("text/") or media in HTTP_TEXT_TYPES):
        return False
    if lowered.get("content-encoding", "").strip().lower() not in ("", "identity"):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def build_http_event(
    *,
    method: str,
    raw_path: str,
    route_path: str,
    path_parameters: Mapping[str, str],
    headers: list[tuple[str, str]],
    body: bytes,
    stage: str,
    source_ip: str,
    account_id: str = LOCAL_ACCOUNT_ID,
) -> dict[str, Any]:
    """The HTTP API's Lambda event (payload format 2.0) for one request.

    Header names lower-case, repeated headers joined with commas, cookies in ``cookies``
    (no cookie header); rawPath carries the stage prefix unless the stage is $default.
    """
    url = urlsplit(raw_path)
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        lower = name.lower()
        if lower == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        joined[lower] = f"{joined[lower]},{value}" if lower in joined else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(url.query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    text: str | None
    is_base64 = False
    if not body:
        text = None
    elif http_body_is_text(joined, body):
        text = body.decode("utf-8")
    else:
        text, is_base64 = base64.b64encode(body).decode("ascii"), True
    path = url.path if stage == "$default" else f"/{stage}{url.path}"
    now = datetime.now(UTC)
    route_key = f"{method} {route_path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": url.query,
        "headers": joined,
        "requestContext": {
            "accountId": account_id,
            "apiId": "local",
            "domainName": joined.get("host", "localhost"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": stage,
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": is_base64,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if text is not None:
        event["body"] = text
    return event


def translate_http_response(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body an HTTP API sends for a payload format 2.0 result.

    A result without statusCode is the body itself: 200, JSON (as API Gateway infers it).
    """
    if isinstance(result, Mapping) and "statusCode" in result:
        cookies = result.get("cookies") or []
        if not isinstance(cookies, list):
            raise MalformedResponseError("cookies must be a list")
        status, headers, body = translate_response({**result, "multiValueHeaders": None})
        return status, [*headers, *(("Set-Cookie", str(c)) for c in cookies)], body
    body = (result if isinstance(result, str) else json.dumps(result)).encode("utf-8")
    return 200, [("Content-Type", "application/json")], body


def translate_response(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body API Gateway would send for a proxy integration result."""
    if not isinstance(result, Mapping):
        raise MalformedResponseError(f"handler returned {type(result).__name__}, not an object")
    try:
        status = int(result.get("statusCode", 200))
    except (TypeError, ValueError):
        raise MalformedResponseError("statusCode is not an integer") from None
    single = result.get("headers") or {}
    multi = result.get("multiValueHeaders") or {}
    if not isinstance(single, Mapping) or not isinstance(multi, Mapping):
        raise MalformedResponseError("headers / multiValueHeaders must be objects")
    headers: list[tuple[str, str]] = []
    for name, values in multi.items():
        if not isinstance(values, list):
            raise MalformedResponseError(f"multiValueHeaders[{name!r}] must be a list")
        headers.extend((str(name), str(value)) for value in values)
    headers.extend((str(name), str(value)) for name, value in single.items() if name not in multi)
    raw = result.get("body")
    if raw is None:
        body = b""
    elif not isinstance(raw, str):
        raise MalformedResponseError("body must be a string")
    elif result.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw, validate=True)
        except binascii.Error:
            raise MalformedResponseError("body is not valid base64") from None
    else:
        body = raw.encode("utf-8")
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return status, headers, body


class _ApiServer(LocalHTTPServer):
    targets: list[ApiTarget]
    stage: str
    account_id: str
    kind: str
    gateway_responses: GatewayResponses


class _ApiHandler(QuietHandler):
    server: _ApiServer

    methods = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

    def dispatch(self) -> None:
        """Route any method to the template's targets."""
        body = self.read_body()
        path = urlsplit(self.path).path
        http = self.server.kind == HTTP
        path_matches = [(t, p) for t in self.server.targets if (p := t.match(path)) is not None]
        chosen = None
        if path_matches:
            resource = path_matches[0][0].resource  # the most specific resource wins
            candidates = [
                (t, p)
                for t, p in path_matches
                if t.resource == resource and t.method in (self.command, "ANY")
            ]
            candidates.sort(key=lambda pair: pair[0].method == "ANY")  # explicit method first
            chosen = candidates[0] if candidates else None
        if chosen is None:
            if http:
                self.send_json(404, HTTP_NOT_FOUND, [("apigw-requestid", str(uuid.uuid4()))])
            else:
                extra = self._gateway_headers(MISSING_AUTHENTICATION_TOKEN, 403)
                self.send_json(403, MISSING_TOKEN, [*MISSING_TOKEN_HEADERS, *extra])
            return
        target, params = chosen
        common: dict[str, Any] = {
            "method": self.command,
            "raw_path": self.path,
            "path_parameters": params,
            "headers": list(self.headers.items()),
            "body": body,
            "stage": self.server.stage,
            "source_ip": self.client_address[0],
            "account_id": self.server.account_id,
        }
        if http:
            event = build_http_event(route_path=target.resource, **common)
            translate, id_header = translate_http_response, "apigw-requestid"
            failed_status, failed = 500, HTTP_INTERNAL_ERROR
        else:
            event = build_event(resource=target.resource, **common)
            translate, id_header = translate_response, "x-amzn-RequestId"
            failed_status, failed = 502, INTERNAL_ERROR
        request_id = event["requestContext"]["requestId"]
        try:
            status, headers, payload = translate(target.invoke(event))
        except Exception:
            print(
                f"local api: {self.command} {path} failed (request {request_id}):",
                file=sys.stderr,
            )
            traceback.print_exc(file=sys.stderr)
            sys.stderr.flush()
            extra = [] if http else self._gateway_headers(DEFAULT_5XX, failed_status)
            self.send_json(failed_status, failed, [(id_header, request_id), *extra])
            return
        self.send_body(status, payload, [*headers, (id_header, request_id)])

    def _gateway_headers(self, response_type: str, status: int) -> list[tuple[str, str]]:
        """What the template's GatewayResponses add to this answer of the API's own."""
        request_headers = dict(self.headers.items())
        return gateway_response_headers(
            self.server.gateway_responses, response_type, status, request_headers
        )


class LocalApi(BackgroundServer):
    """The local REST or HTTP API server (paths as in the template, no stage prefix)."""

    def __init__(
        self,
        targets: list[ApiTarget],
        stage: str,
        host: str = "127.0.0.1",
        port: int = 0,
        account_id: str = LOCAL_ACCOUNT_ID,
        quiet: bool = True,
        kind: str = REST,
        gateway_responses: GatewayResponses | None = None,
    ) -> None:
        """Bind host:port (0 = free port); call start() to serve. kind: rest or http;
        gateway_responses: the REST API's (Template.gateway_responses)."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        server = _ApiServer((host, port), _ApiHandler, quiet)
        server.kind = kind
        self.kind = kind
        server.targets = sorted(targets, key=lambda target: target.specificity)
        server.stage = stage
        server.account_id = account_id
        server.gateway_responses = dict(gateway_responses or {})
        self.targets = server.targets
        self.stage = stage
        self._thread = ServerThread(server, "local-api")


def targets_from_template(
    template: Template, functions: Mapping[str, Function], context: ResolveContext | None = None
) -> list[ApiTarget]:
    """One ApiTarget per event of the active API (Template.active_api), invoking the function."""
    targets: list[ApiTarget] = []
    for route in template.api_routes(context):
        if route.function_id not in functions:
            raise KeyError(f"function {route.function_id} of {route.path} is not loaded")
        targets.append(ApiTarget(route.method, route.path, functions[route.function_id].invoke))
    return targets
