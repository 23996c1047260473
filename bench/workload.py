"""Events and stubs shared by the bench measures (no product code changed)."""

from __future__ import annotations

import copy
import functools
import importlib.util
import json
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "common"


def add_paths() -> None:
    """The repo root and the layer on sys.path, as `make bench` and Lambda would have them."""
    for path in (str(LAYER), str(ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)


def body_of(name: str) -> dict[str, Any]:
    """The Segment call in events/<name>.json (an API Gateway event)."""
    event = json.loads((ROOT / "events" / f"{name}.json").read_text(encoding="utf-8"))
    return dict(json.loads(event["body"]))


def order_completed(products: int = 8) -> dict[str, Any]:
    """A realistic Order Completed (Segment e-commerce spec v2), ~3 KB with 8 products."""
    return {
        "type": "track",
        "messageId": "evt-order-0001",
        "userId": "user-1001",
        "anonymousId": "anon-7f3a",
        "timestamp": "2026-11-28T09:16:30.250Z",
        "event": "Order Completed",
        "properties": {
            "checkout_id": "chk-88123",
            "order_id": "o-50314",
            "affiliation": "Online Store",
            "total": 187.47,
            "subtotal": 161.97,
            "revenue": 161.97,
            "shipping": 12.5,
            "tax": 13.0,
            "discount": 2.5,
            "coupon": "WINTER10",
            "currency": "USD",
            "products": [
                {
                    "product_id": f"sku-{i:04d}",
                    "sku": f"SKU-{i:04d}-BLU-M",
                    "category": "Apparel / Outerwear",
                    "name": f"Merino Wool Jacket {i}",
                    "brand": "Northwind",
                    "variant": "Blue / M",
                    "price": 19.99 + i,
                    "quantity": 1 + i % 3,
                    "coupon": "",
                    "position": i + 1,
                    "url": f"https://shop.example.com/products/sku-{i:04d}",
                    "image_url": f"https://cdn.example.com/img/sku-{i:04d}.jpg",
                }
                for i in range(products)
            ],
        },
        "context": {
            "ip": "203.0.113.7",
            "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15",
            "library": {"name": "analytics.js", "version": "4.1.0"},
            "page": {
                "path": "/checkout/thank-you",
                "url": "https://shop.example.com/checkout/thank-you",
                "title": "Thank you",
                "referrer": "https://shop.example.com/checkout",
            },
            "locale": "en-US",
            "timezone": "Europe/Berlin",
        },
    }


def cpu_events() -> dict[str, dict[str, Any]]:
    return {
        "identify": body_of("identify"),
        "track": body_of("track"),
        "page": body_of("page"),
        "order_completed": order_completed(),
    }


def tracks(n: int, prefix: str, pad: int = 0) -> list[dict[str, Any]]:
    """n distinct tracks (own messageIds), optionally padded to a larger size."""
    base = body_of("track")
    out = []
    for i in range(n):
        event = copy.deepcopy(base)
        event["messageId"] = f"{prefix}-{i:05d}"
        if pad:
            event["properties"]["note"] = "x" * pad
        out.append(event)
    return out


# ------------------------------------------------------------------ in-process handler + stubs

STUB_ENVIRONMENT = {
    "INBOUND_AUTH": "none",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "bench",
    "POWERTOOLS_METRICS_NAMESPACE": "RichpanelDestinationBench",
    "POWERTOOLS_DEV": "false",
    "DELIVERY_CONCURRENCY": "16",
    "DELIVERY_BUDGET_SECONDS": "30",
    "IDEMPOTENCY_TABLE": "",
    "RETRY_QUEUE_URL": "https://sqs.bench.invalid/retry",
    "DEAD_LETTER_QUEUE_URL": "https://sqs.bench.invalid/dlq",
    "RICHPANEL_BASE_URL": "https://richpanel.bench.invalid/v2",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


class StubRichpanel:
    """Answers 200 at once after encoding the call as the real client would."""

    def __init__(self) -> None:
        self.sent = 0

    def held(self) -> Any:
        """As Gate.held: nothing holds the sends back (no breaker, no 429 pause)."""
        return None

    def send(self, call: Any, credentials: Any = None, within: float | None = None) -> Any:
        from richpanel_destination.richpanel.outcomes import Kind, Outcome
        from richpanel_destination.richpanel.wire import encode_call

        encode_call(call, app_client_id="k", secret="s", signing="md5", sent_at_ms=0)
        self.sent += 1
        return Outcome(Kind.DELIVERED, "stub answered 200", 200, latency_ms=0.0)


class StubQueues:
    def reserve(self, count: int) -> float:
        """As Queues reserves time to queue ``count`` events, at the default pace."""
        from richpanel_destination.delivery.queues import queue_seconds

        return queue_seconds(count)

    def __init__(self) -> None:
        self.parked = 0

    def send_many(self, messages: list[Any]) -> dict[int, str]:
        self.parked += len(messages)
        return {}

    def postpone(self, receipt_handle: str, seconds: int) -> None:
        return None

    def postpone_many(self, postpones: list[Any]) -> int:
        return 0

    def to_retry(self, *args: Any, **kwargs: Any) -> None:
        self.parked += 1

    def to_dead_letter(self, *args: Any, **kwargs: Any) -> None:
        self.parked += 1


def install_stubs() -> tuple[StubRichpanel, StubQueues]:
    """Replace the runtime's Richpanel client, queues and dedupe (as tests/fuzz does)."""
    import os

    os.environ.update(STUB_ENVIRONMENT)
    from richpanel_destination import runtime

    runtime.reset()
    richpanel, queues = StubRichpanel(), StubQueues()
    runtime.richpanel = functools.cache(lambda: richpanel)  # type: ignore[assignment]
    runtime.queues = functools.cache(lambda: queues)  # type: ignore[assignment]
    runtime.dedupe = functools.cache(lambda: None)  # type: ignore[assignment]
    from richpanel_destination.secrets import RichpanelCredentials

    runtime.richpanel_credentials = lambda: RichpanelCredentials("k", "s")  # type: ignore[assignment]
    return richpanel, queues


def load_handler(function: str) -> Any:
    """functions/<function>/app.py under its own module name; returns its lambda_handler."""
    name = f"_bench_{function}_app"
    spec = importlib.util.spec_from_file_location(name, ROOT / "functions" / function / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module.lambda_handler


class FakeContext:
    function_name = "BenchFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:BenchFunction"
    memory_limit_in_mb = 128
    log_group_name = "/aws/lambda/BenchFunction"
    log_stream_name = "bench"
    identity = None
    client_context = None

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def proxy_event(path: str, body: str) -> dict[str, Any]:
    """An API Gateway REST proxy event around a JSON body."""
    event = json.loads((ROOT / "events" / "track.json").read_text(encoding="utf-8"))
    event.update({"resource": path, "path": path, "body": body, "isBase64Encoded": False})
    event["requestContext"] = {
        **event["requestContext"],
        "resourcePath": path,
        "path": path,
        "requestId": str(uuid.uuid4()),
    }
    return dict(event)


def sqs_event() -> dict[str, Any]:
    return dict(json.loads((ROOT / "events" / "retry_sqs.json").read_text(encoding="utf-8")))
