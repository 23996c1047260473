"""Richpanel's REST read-back of a customer: how arrival is proven (canary, `make verify`).

The path and the key header are what the sandbox serves and what Richpanel's REST API is
believed to use (docs/richpanel-wire.md: unconfirmed, so `make verify` takes a flag).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

REST_PATH = "/v1/customers"
REST_KEY_HEADER = "x-richpanel-key"


def customer_in(response: requests.Response) -> Mapping[str, Any]:
    """The ``customer`` object of a 200 read-back answer; ValueError saying what is wrong."""
    try:
        body = response.json()
    except ValueError as exc:
        raise ValueError("the read-back answered 200 without JSON") from exc
    customer = body.get("customer") if isinstance(body, Mapping) else None
    if not isinstance(customer, Mapping):
        raise ValueError('the read-back answered 200 without a "customer" object')
    return customer
