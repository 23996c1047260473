"""CORS through the ingest ``lambda_handler``: preflights, the Origin check, headers on errors.

The handler is loaded with ALLOWED_ORIGINS as the template sets it from AllowedOrigins (a
list, ``*``, or empty: the default), and fed built REST (payload 1.0) and HTTP API (2.0) events.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local.api import build_http_event
from richpanel_destination import runtime
from richpanel_destination.inbound import cors
from richpanel_destination.secrets import InboundCredentials, SecretError
from tests.functions.golden_cases import HANDLER, MAPPING, cases_in, encode, load
from tests.fuzz.conftest import proxy_event
from tests.handlers.test_golden_handler import (
    ingest_handler,
    on_the_wire,
)

SHOP = "https://shop.example.com"
WWW = "https://www.example.com"
EVIL = "https://evil.example.net"
KINDS = ("rest", "http")
TRACK = next(p for p in cases_in(MAPPING, HANDLER) if p.stem == "track_basic")


def load_handler(allowed_origins: str) -> Iterator[Any]:
    """lambda_handler loaded with ALLOWED_ORIGINS (read at import, as on a cold start)."""
    with ingest_handler(env={cors.ENVIRONMENT_VARIABLE: allowed_origins}) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def listed() -> Iterator[Any]:
    yield from load_handler(f"{SHOP}, {WWW}/")  # as typed: a space, a trailing slash


@pytest.fixture(scope="module")
def anyone() -> Iterator[Any]:
    yield from load_handler("*")


@pytest.fixture(scope="module")
def nobody() -> Iterator[Any]:
    yield from load_handler("")  # the template's default


def event(kind: str, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> Any:
    if kind == "http":
        return build_http_event(method=method, raw_path=path, route_path=path, path_parameters={},
                                headers=list(headers.items()), body=body, stage="live",
                                source_ip="203.0.113.7")  # fmt: skip
    text = body.decode("utf-8") if body else None
    return proxy_event(path, text, headers=headers, method=method)


def headers_of(result: dict[str, Any]) -> dict[str, str]:
    """The answer's headers, lower-case names (REST answers use multiValueHeaders)."""
    out = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        out[name.lower()] = ",".join(str(v) for v in values)
    return out


def call(handler: Any, kind: str, method: str, path: str, headers: dict[str, str],
         body: bytes = b"") -> tuple[int, dict[str, str], str]:  # fmt: skip
    result, _ = on_the_wire(handler, event(kind, method, path, headers, body))
    return int(result["statusCode"]), headers_of(result), result.get("body") or ""


def preflight(origin: str | None) -> dict[str, str]:
    headers = {"Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "authorization,content-type"}  # fmt: skip
    return headers | ({"Origin": origin} if origin else {})


def track(origin: str | None = None, **changes: str) -> tuple[bytes, dict[str, str]]:
    raw, headers = encode(load(TRACK)["request"])
    headers = {**headers, **changes} | ({"Origin": origin} if origin else {})
    return raw, headers


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("origin", [SHOP, WWW])
def test_a_preflight_from_a_listed_origin_is_answered_without_credentials(
    listed: Any, kind: str, origin: str
) -> None:
    status, headers, body = call(listed, kind, "OPTIONS", "/v1/t", preflight(origin))
    assert status == 204, body
    assert headers["access-control-allow-origin"] == origin
    assert headers["access-control-allow-methods"] == "OPTIONS, POST"
    assert headers["access-control-allow-headers"] == "authorization,content-type,x-retry-count"
    assert headers["access-control-max-age"] == str(cors.MAX_AGE_SECONDS) == "7200"
    assert headers["vary"] == "Origin"


@pytest.mark.parametrize("kind", KINDS)
def test_every_ingest_route_answers_a_preflight(listed: Any, kind: str) -> None:
    for route in ("identify", "track", "page", "screen", "group", "alias", "batch",
                  "i", "t", "p", "s", "g", "a", "b", "webhook"):  # fmt: skip
        status, headers, _ = call(listed, kind, "OPTIONS", f"/v1/{route}", preflight(SHOP))
        assert (status, headers.get("access-control-allow-origin")) == (204, SHOP), route


@pytest.mark.parametrize("kind", KINDS)
def test_a_preflight_from_another_origin_is_refused(listed: Any, kind: str) -> None:
    status, headers, body = call(listed, kind, "OPTIONS", "/v1/t", preflight(EVIL))
    assert status == 403
    assert "access-control-allow-origin" not in headers
    assert json.loads(body)["message"] == (
        f"Origin {EVIL} is not allowed to send to this API (not in AllowedOrigins)"
    )


@pytest.mark.parametrize("kind", KINDS)
def test_by_default_no_browser_origin_is_allowed(nobody: Any, kind: str) -> None:
    status, headers, body = call(nobody, kind, "OPTIONS", "/v1/t", preflight(SHOP))
    assert status == 403
    assert not any(name.startswith("access-control-") for name in headers)
    assert "AllowedOrigins is empty" in json.loads(body)["message"]
    raw, post_headers = track(SHOP)
    status, headers, _ = call(nobody, kind, "POST", "/v1/track", post_headers, raw)
    assert status == 403
    assert "access-control-allow-origin" not in headers


@pytest.mark.parametrize("kind", KINDS)
def test_a_star_allows_any_origin(anyone: Any, kind: str) -> None:
    status, headers, _ = call(anyone, kind, "OPTIONS", "/v1/t", preflight(EVIL))
    assert (status, headers["access-control-allow-origin"]) == (204, "*")
    raw, post_headers = track(EVIL)
    status, headers, body = call(anyone, kind, "POST", "/v1/track", post_headers, raw)
    assert (status, headers["access-control-allow-origin"]) == (200, "*"), body


@pytest.mark.parametrize("kind", KINDS)
def test_a_plain_options_without_origin_says_which_methods(nobody: Any, kind: str) -> None:
    status, headers, _ = call(nobody, kind, "OPTIONS", "/v1/t", {})
    assert (status, headers["allow"]) == (204, "OPTIONS, POST")
    assert "access-control-allow-origin" not in headers


@pytest.mark.parametrize("kind", KINDS)
def test_a_post_from_a_listed_origin_is_delivered_with_cors_headers(listed: Any, kind: str) -> None:
    raw, headers = track(SHOP)
    status, answer_headers, body = call(listed, kind, "POST", "/v1/track", headers, raw)
    assert status == 200, body
    assert answer_headers["access-control-allow-origin"] == SHOP
    assert answer_headers["vary"] == "Origin"


@pytest.mark.parametrize("kind", KINDS)
def test_a_post_from_another_origin_is_refused_before_anything_is_read(
    listed: Any, kind: str
) -> None:
    """text/plain and beacon posts are never preflighted: the function checks Origin itself."""
    raw, headers = track(EVIL, **{"Content-Type": "text/plain"})
    status, answer_headers, body = call(listed, kind, "POST", "/v1/track", headers, raw)
    assert status == 403
    assert "access-control-allow-origin" not in answer_headers
    assert "not allowed" in json.loads(body)["message"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_post_without_origin_is_unaffected(listed: Any, nobody: Any, kind: str) -> None:
    """Segment's servers send no Origin: delivered, and no CORS headers, whatever the list."""
    for handler in (listed, nobody):
        raw, headers = track()
        status, answer_headers, body = call(handler, kind, "POST", "/v1/track", headers, raw)
        assert status == 200, body
        assert not any(name.startswith("access-control-") for name in answer_headers)


def unreadable_inbound() -> InboundCredentials:
    raise SecretError("cannot read secret arn:x: ResourceNotFoundException")


def without_authorization() -> tuple[bytes, dict[str, str]]:
    raw, headers = track(SHOP)
    return raw, {k: v for k, v in headers.items() if k != "Authorization"}


# The function's error answers (a 413 is WAF's, before the function: test_cors.py in
# tests/template checks its headers; over the limit, the function answers 400).
ERRORS: dict[str, tuple[int, Callable[[], tuple[bytes, dict[str, str]]]]] = {
    "bad-json": (400, lambda: (b"{not json", track(SHOP)[1])),
    "over-the-limit": (400, lambda: (b'{"x":"' + b"a" * 600_000 + b'"}', track(SHOP)[1])),
    "no-write-key": (401, without_authorization),
    "media-type": (415, lambda: track(SHOP, **{"Content-Type": "image/png"})),
    "secret-unreadable": (503, lambda: track(SHOP)),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", sorted(ERRORS))
def test_error_answers_carry_cors_headers(
    listed: Any, kind: str, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Otherwise the browser hides the error from analytics.js, which retries blindly."""
    status, build = ERRORS[case]
    if status == 503:
        monkeypatch.setattr(runtime, "inbound_credentials", unreadable_inbound)
    raw, headers = build()
    got, answer_headers, body = call(listed, kind, "POST", "/v1/track", headers, raw)
    assert got == status, body
    assert answer_headers["access-control-allow-origin"] == SHOP
    assert answer_headers["vary"] == "Origin"


def test_allowed_origins_parse_as_the_template_joins_them() -> None:
    parsed = cors.AllowedOrigins.parse(f" {SHOP}/,HTTPS://WWW.EXAMPLE.COM,,{SHOP}")
    assert parsed.origins == (SHOP, WWW)
    assert parsed.allows(SHOP) and parsed.allows(None) and not parsed.allows(EVIL)
    assert not cors.AllowedOrigins.parse("")
    assert cors.AllowedOrigins.parse("*").allows(EVIL)
