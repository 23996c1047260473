"""A fake Richpanel for verify's tests: the ingest POST and the REST read-back (responses)."""

from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

import responses
from requests import PreparedRequest

from ops.verify import cli as verify_cli

INGEST = "https://ingest.test/v2"
REST = "https://rest.test"
API_KEY = "rp-api-key-1234567890"
API_SECRET = "rp-api-secret-abcdefghij"
REST_KEY = "rp-rest-key-zyxwvutsrq"
SECRETS = (API_KEY, API_SECRET, REST_KEY)
Reply = tuple[int, dict[str, str], str]


def real_env(**changes: str | None) -> dict[str, str]:
    """The environment pointing verify at the fake Richpanel; None removes a variable."""
    env = {
        "RICHPANEL_BASE_URL": INGEST,
        "RICHPANEL_API_KEY": API_KEY,
        "RICHPANEL_API_SECRET": API_SECRET,
        "RICHPANEL_REST_URL": REST,
        "RICHPANEL_REST_KEY": REST_KEY,
    }
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


@dataclass
class FakeRichpanel:
    """Accepts every well-formed call with 200; keeps those with its API key on one customer.

    hidden_polls: how many read-backs answer 404 before the customer shows; ingest_status:
    what the ingest answers (a non-2xx keeps nothing).
    """

    api_key: str = API_KEY
    rest_key: str = REST_KEY
    ingest: str = INGEST
    rest: str = REST
    hidden_polls: int = 0
    ingest_status: int = 200
    calls: list[dict[str, Any]] = field(default_factory=list)
    reads: int = 0
    customer: dict[str, Any] | None = None

    def install(self, rsps: responses.RequestsMock) -> None:
        rsps.add_callback(responses.POST, f"{self.ingest}/t", callback=self._ingest)
        pattern = re.compile(re.escape(self.rest) + r"/v1/customers/email/.+")
        rsps.add_callback(responses.GET, pattern, callback=self._read)

    def _ingest(self, request: PreparedRequest) -> Reply:
        body = json.loads(request.body or b"{}")
        call = json.loads(base64.b64decode(body["h"]))
        self.calls.append({"body": body, "call": call})
        if self.ingest_status != 200:
            return self.ingest_status, {}, json.dumps({"error": "refused"})
        if call.get("appClientId") == self.api_key:
            self._keep(call)
        return 200, {}, json.dumps({"status": "ok"})  # like Richpanel: even for a wrong key

    def _keep(self, call: dict[str, Any]) -> None:
        customer = self.customer or {"properties": {}, "events": [], "orders": []}
        self.customer = customer
        user = call.get("userProperties") or {}
        customer["properties"].update(user)
        customer.update({k: user[k] for k in ("uid", "email") if k in user})
        properties = call.get("properties") or {}
        customer["events"].append(
            {"event": call["event"], "eventId": call.get("eventId"), "properties": properties}
        )
        if "orderId" in properties:
            customer["orders"].append(dict(properties))

    def _read(self, request: PreparedRequest) -> Reply:
        self.reads += 1
        if request.headers.get("x-richpanel-key") != self.rest_key:
            return 401, {}, json.dumps({"error": "invalid api key"})
        email = (request.url or "").rsplit("/", 1)[-1]
        if self.reads <= self.hidden_polls or self.customer is None:
            return 404, {}, json.dumps({"error": "customer not found"})
        if self.customer.get("email") != email:
            return 404, {}, json.dumps({"error": "customer not found"})
        return 200, {}, json.dumps({"customer": self.customer})


def run(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run the verify command line; its exit status and everything it printed."""
    out = io.StringIO()
    code = verify_cli.main(
        ["--timeout", "1", "--interval", "0.05", *argv],
        out=out,
        env=real_env() if env is None else env,
    )
    return code, out.getvalue()
