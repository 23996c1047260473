"""Local stand-in for the API Gateway REST API (Lambda proxy integration, payload v1)."""

from __future__ import annotations

import base64
import binascii
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
from local.template import LOCAL_ACCOUNT_ID, Template

Invoke = Callable[[dict[str, Any]], Any]

# What API Gateway (REST) answers, as a 403, when no resource and method match the request:
# an unknown path, a method the path does not declare, a missing or wrong stage.
MISSING_TOKEN = {"message": "Missing Authentication Token"}
MISSING_TOKEN_HEADERS = [("x-amzn-ErrorType", "MissingAuthenticationTokenException")]
INTERNAL_ERROR = {"message": "Internal server error"}
_PARAM = re.compile(r"^\{([^}+]+)(\+?)\}$")


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


class _ApiHandler(QuietHandler):
    server: _ApiServer

    methods = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

    def dispatch(self) -> None:
        """Route any method to the template's targets."""
        body = self.read_body()
        path = urlsplit(self.path).path
        path_matches = [(t, p) for t in self.server.targets if (p := t.match(path)) is not None]
        if not path_matches:
            self.send_json(403, MISSING_TOKEN, MISSING_TOKEN_HEADERS)
            return
        resource = path_matches[0][0].resource  # the most specific resource wins
        candidates = [
            (t, p)
            for t, p in path_matches
            if t.resource == resource and t.method in (self.command, "ANY")
        ]
        candidates.sort(key=lambda pair: pair[0].method == "ANY")  # explicit method first
        chosen = candidates[0] if candidates else None
        if chosen is None:
            self.send_json(403, MISSING_TOKEN, MISSING_TOKEN_HEADERS)
            return
        target, params = chosen
        event = build_event(
            method=self.command,
            raw_path=self.path,
            resource=target.resource,
            path_parameters=params,
            headers=list(self.headers.items()),
            body=body,
            stage=self.server.stage,
            source_ip=self.client_address[0],
            account_id=self.server.account_id,
        )
        request_id = event["requestContext"]["requestId"]
        try:
            status, headers, payload = translate_response(target.invoke(event))
        except Exception:
            print(
                f"local api: {self.command} {path} failed (request {request_id}):",
                file=sys.stderr,
            )
            traceback.print_exc(file=sys.stderr)
            sys.stderr.flush()
            self.send_json(502, INTERNAL_ERROR, [("x-amzn-RequestId", request_id)])
            return
        self.send_body(status, payload, [*headers, ("x-amzn-RequestId", request_id)])


class LocalApi(BackgroundServer):
    """The local REST API server (paths as in the template, no stage prefix)."""

    def __init__(
        self,
        targets: list[ApiTarget],
        stage: str,
        host: str = "127.0.0.1",
        port: int = 0,
        account_id: str = LOCAL_ACCOUNT_ID,
        quiet: bool = True,
    ) -> None:
        """Bind host:port (0 = free port); call start() to serve."""
        server = _ApiServer((host, port), _ApiHandler, quiet)
        server.targets = sorted(targets, key=lambda target: target.specificity)
        server.stage = stage
        server.account_id = account_id
        self.targets = server.targets
        self.stage = stage
        self._thread = ServerThread(server, "local-api")


def targets_from_template(template: Template, functions: Mapping[str, Function]) -> list[ApiTarget]:
    """One ApiTarget per Api event of the template, invoking the loaded function."""
    targets: list[ApiTarget] = []
    for route in template.api_routes():
        if route.function_id not in functions:
            raise KeyError(f"function {route.function_id} of {route.path} is not loaded")
        targets.append(ApiTarget(route.method, route.path, functions[route.function_id].invoke))
    return targets
