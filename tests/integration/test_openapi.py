"""docs/openapi.yaml: a valid OpenAPI 3.0 document, the template's routes, the API's real answers.

The running API's responses are validated against the documented schema of their status code.
OpenAPI 3.0 schemas are not quite JSON Schema (`nullable`, `$ref` into components, annotation
keywords), so `to_json_schema` converts them for jsonschema's draft-4 validator, the draft the
OpenAPI 3.0 Schema Object is closest to.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from jsonschema import Draft4Validator
from openapi_spec_validator import validate as validate_openapi

from local.template import ApiRoute, Template
from richpanel_destination.inbound.request import ROUTES

pytestmark = pytest.mark.integration

OPENAPI_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
INTEGRATION_URI_PREFIX = "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
# Schema Object keywords JSON Schema does not have (nullable is turned into a type list).
OPENAPI_ONLY_KEYWORDS = frozenset(
    {"nullable", "discriminator", "readOnly", "writeOnly", "xml", "externalDocs", "example"}
)
BODY_MEDIA_TYPES = {"application/json", "text/plain"}
# Every path /v1/<name> is one of these kinds (analytics.js short paths as their long form).
ROUTE_KINDS = ROUTES
CALL_SAMPLES: dict[str, dict[str, Any]] = {
    "identify": {"userId": "user-1", "traits": {"email": "jane@example.com"}},
    "track": {"userId": "user-1", "event": "Order Completed", "properties": {"order_id": "o-1"}},
    "page": {"userId": "user-1", "name": "Pricing"},
    "screen": {"userId": "user-1", "name": "Home"},
    "group": {"userId": "user-1", "groupId": "g-1", "traits": {"name": "Acme"}},
    "alias": {"userId": "user-1", "previousId": "anon-1"},
}
MAX_BATCH_EVENTS = 2_500


# --------------------------------------------------------------------------- the document


@cache
def document() -> dict[str, Any]:
    """docs/openapi.yaml, parsed (YAML anchors resolved)."""
    with OPENAPI_PATH.open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = yaml.safe_load(handle)
    return loaded


def template_routes() -> list[ApiRoute]:
    """The Api events template.yaml declares."""
    return Template.load().api_routes()


def resolve(node: Any) -> Any:
    """Follow local `$ref`s ("#/components/...") until node is not a reference."""
    seen: set[str] = set()
    while isinstance(node, Mapping) and "$ref" in node:
        ref = str(node["$ref"])
        if not ref.startswith("#/"):
            raise ValueError(f"only local $refs are supported, got {ref!r}")
        if ref in seen:
            raise ValueError(f"$ref cycle through {ref!r}")
        seen.add(ref)
        node = document()
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def to_json_schema(schema: Any, refs: tuple[str, ...] = ()) -> Any:
    """An OpenAPI 3.0 Schema Object as a self-contained draft-4 JSON Schema.

    `$ref`s are inlined (the document has no recursive schemas), `nullable: true` adds "null"
    to `type` (and `None` to `enum`), OpenAPI-only keywords and extensions are dropped.
    """
    if isinstance(schema, bool):
        return schema
    if "$ref" in schema:
        ref = str(schema["$ref"])
        if ref in refs:
            raise ValueError(f"recursive schema through {ref!r}")
        return to_json_schema(resolve(schema), (*refs, ref))
    converted: dict[str, Any] = {}
    for key, value in schema.items():
        if key in OPENAPI_ONLY_KEYWORDS or key.startswith("x-"):
            continue
        if key == "properties":
            converted[key] = {name: to_json_schema(sub, refs) for name, sub in value.items()}
        elif key in ("allOf", "anyOf", "oneOf"):
            converted[key] = [to_json_schema(sub, refs) for sub in value]
        elif key in ("items", "not", "additionalProperties"):
            converted[key] = to_json_schema(value, refs)
        else:
            converted[key] = value
    if schema.get("nullable") is True:
        if "type" not in converted:
            return {"anyOf": [converted, {"type": "null"}]}
        converted["type"] = [converted["type"], "null"]
        if "enum" in converted:
            converted["enum"] = [*converted["enum"], None]
    return converted


def component_validator(name: str) -> Draft4Validator:
    """A validator for components/schemas/<name>."""
    return Draft4Validator(to_json_schema({"$ref": f"#/components/schemas/{name}"}))


def schema_problems(validator: Draft4Validator, instance: Any) -> list[str]:
    """Readable validation errors (JSON pointer: message), empty when instance is valid."""
    return sorted(
        f"/{'/'.join(str(part) for part in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(instance)
    )


def operation(path: str, method: str = "post") -> Mapping[str, Any]:
    """The document's operation for method + path."""
    return document()["paths"][path][method]  # type: ignore[no-any-return]


def assert_documented(response: requests.Response, path: str) -> dict[str, Any]:
    """Check response against the schema POST path documents for its status; return the body."""
    responses = operation(path)["responses"]
    status = str(response.status_code)
    assert status in responses, f"POST {path} answered {status}, not documented: {response.text}"
    spec = resolve(responses[status])
    assert response.headers.get("Content-Type", "").startswith("application/json")
    for header in spec.get("headers", {}):
        assert header in response.headers, f"{status} from POST {path} lacks {header}"
    body: dict[str, Any] = response.json()
    validator = Draft4Validator(to_json_schema(spec["content"]["application/json"]["schema"]))
    problems = schema_problems(validator, body)
    assert not problems, (
        f"{status} from POST {path} does not match docs/openapi.yaml:\n"
        + "\n".join(problems)
        + f"\nbody: {json.dumps(body)}"
    )
    return body


# --------------------------------------------------------------------------- requests


def call(call_type: str, *, typed: bool = False) -> dict[str, Any]:
    """A valid Segment call of call_type with a fresh messageId."""
    sample = {**CALL_SAMPLES[call_type], "messageId": f"openapi-{uuid.uuid4()}"}
    return {"type": call_type, **sample} if typed else sample


def valid_body(path: str) -> tuple[Any, int]:
    """A valid request body for path and the number of events it carries."""
    name = path.rsplit("/", 1)[-1]
    assert name in ROUTE_KINDS, f"{path} is a template route this test has no body for"
    kind = ROUTE_KINDS[name]
    if kind == "batch":
        return {"batch": [call(call_type, typed=True) for call_type in CALL_SAMPLES]}, len(
            CALL_SAMPLES
        )
    if kind == "webhook":
        return [call("track", typed=True), call("identify", typed=True)], 2
    return call(kind), 1


# --------------------------------------------------------------------------- the document itself


def test_document_is_valid_openapi_3_0() -> None:
    spec = document()
    assert str(spec["openapi"]).startswith("3.0.")
    validate_openapi(spec)
    for name in spec["components"]["schemas"]:
        Draft4Validator.check_schema(to_json_schema({"$ref": f"#/components/schemas/{name}"}))


def test_documented_routes_are_the_templates() -> None:
    documented = {
        (method.upper(), path)
        for path, item in document()["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    declared = {(route.method, route.path) for route in template_routes()}
    assert documented == declared, (
        f"only in docs/openapi.yaml: {sorted(documented - declared)}; "
        f"only in template.yaml: {sorted(declared - documented)}"
    )


def post_routes() -> list[ApiRoute]:
    """The template's POST routes (each path also has its OPTIONS, the CORS preflight)."""
    return [route for route in template_routes() if route.method == "POST"]


@pytest.mark.parametrize(
    "route", template_routes(), ids=lambda route: f"{route.method} {route.path}"
)
def test_every_operation_is_complete(route: ApiRoute) -> None:
    spec = operation(route.path, route.method.lower())
    integration = spec["x-amazon-apigateway-integration"]
    assert integration["type"] == "aws_proxy"
    assert integration["httpMethod"] == "POST"  # a Lambda proxy integration, whatever the method
    uri = integration["uri"]["Fn::Sub"]
    assert uri == f"{INTEGRATION_URI_PREFIX}${{{route.function_id}.Arn}}/invocations"
    if route.method == "OPTIONS":
        assert set(spec["responses"]) == {"204", "403"}
        assert "requestBody" not in spec
        return
    body = resolve(spec["requestBody"])
    assert body["required"] is True
    assert set(body["content"]) == BODY_MEDIA_TYPES
    assert {"200", "400", "401", "503"} <= set(spec["responses"])
    assert "Retry-After" in resolve(spec["responses"]["503"])["headers"]


def test_response_schemas_catch_drift() -> None:
    result = component_validator("EventResult")
    rejected = {
        "index": 0,
        "messageId": None,
        "type": "track",
        "outcome": "rejected",
        "reason": "invalid Segment call",
        "errors": [{"path": "/event", "message": "event is required"}],
    }
    assert schema_problems(result, rejected) == []
    assert schema_problems(result, {**rejected, "outcome": "lost"})
    assert schema_problems(result, {**rejected, "extra": 1})
    assert schema_problems(result, {**rejected, "errors": [{"pointer": "/event", "message": "x"}]})
    assert schema_problems(component_validator("IngestResponse"), {"results": []})
    assert schema_problems(component_validator("UnavailableResponse"), {"summary": {}})


# --------------------------------------------------------------------------- the running API


def test_delivered_track_matches_the_documented_200(stack: Any) -> None:
    event = call("track")
    response = stack.http.post(f"{stack.api}/v1/track", json=event, timeout=10)

    assert response.status_code == 200
    body = assert_documented(response, "/v1/track")
    assert body["results"][0]["outcome"] == "delivered"
    assert body["results"][0]["messageId"] == event["messageId"]


def test_batch_with_a_valid_and_an_invalid_event_matches_the_documented_200(stack: Any) -> None:
    batch = {"batch": [call("track", typed=True), {"type": "track", "userId": "user-1"}]}
    response = stack.http.post(f"{stack.api}/v1/batch", json=batch, timeout=10)

    assert response.status_code == 200
    body = assert_documented(response, "/v1/batch")
    assert [r["outcome"] for r in body["results"]] == ["delivered", "rejected"]
    assert body["results"][1]["errors"]


def test_single_invalid_track_matches_the_documented_400(stack: Any) -> None:
    response = stack.http.post(f"{stack.api}/v1/track", json={"userId": "u"}, timeout=10)

    assert response.status_code == 400
    body = assert_documented(response, "/v1/track")
    assert body["results"][0]["outcome"] == "rejected"
    assert body["results"][0]["errors"][0]["path"] == "/event"


def test_invalid_json_matches_the_documented_400(stack: Any) -> None:
    response = stack.http.post(
        f"{stack.api}/v1/identify",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )

    assert response.status_code == 400
    body = assert_documented(response, "/v1/identify")
    assert set(body) == {"message"}


def test_batch_over_the_event_limit_matches_the_documented_400(stack: Any) -> None:
    item = {"type": "track", "userId": "u", "event": "e"}
    batch = {"batch": [item] * (MAX_BATCH_EVENTS + 1)}
    response = stack.http.post(f"{stack.api}/v1/batch", json=batch, timeout=30)

    assert response.status_code == 400
    body = assert_documented(response, "/v1/batch")
    assert set(body) == {"message"}
    assert stack.sandbox_calls() == []


@pytest.mark.parametrize("route", post_routes(), ids=lambda route: route.path)
def test_every_route_answers_the_documented_200(stack: Any, route: ApiRoute) -> None:
    payload, count = valid_body(route.path)
    response = stack.http.request(
        route.method, f"{stack.api}{route.path}", json=payload, timeout=10
    )

    assert response.status_code == 200, response.text
    body = assert_documented(response, route.path)
    assert body["summary"]["received"] == count
    outcomes = [result["outcome"] for result in body["results"]]
    assert not {"rejected", "failed"} & set(outcomes), outcomes


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/json", "Content-Encoding": "gzip"},
        {"Content-Type": "text/plain", "Content-Encoding": "gzip"},
    ],
    ids=["text-plain", "gzip-json", "gzip-text-plain"],
)
def test_documented_body_encodings_are_accepted(stack: Any, headers: dict[str, str]) -> None:
    event = call("track")
    data = json.dumps(event).encode("utf-8")
    if headers.get("Content-Encoding") == "gzip":
        data = gzip.compress(data)
    response = stack.http.post(f"{stack.api}/v1/track", data=data, headers=headers, timeout=10)

    assert response.status_code == 200, response.text
    body = assert_documented(response, "/v1/track")
    assert body["results"][0]["outcome"] == "delivered"


def test_a_refused_preflight_and_post_match_the_documented_403(stack: Any) -> None:
    """The session's stack keeps the default AllowedOrigins (empty): no browser origin."""
    origin = {"Origin": "https://shop.example.com"}
    preflight = requests.options(f"{stack.api}/v1/track", headers=origin, timeout=10)
    assert preflight.status_code == 403
    assert "403" in operation("/v1/track", "options")["responses"]
    response = stack.http.post(f"{stack.api}/v1/track", json=call("track"), headers=origin,
                               timeout=10)  # fmt: skip
    assert response.status_code == 403
    body = assert_documented(response, "/v1/track")
    assert "AllowedOrigins" in body["message"]
    assert stack.sandbox_calls() == []
