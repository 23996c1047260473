"""A fake ingest API for the replay's unit tests (responses): /v1/batch answers a result
per event as ingest does: delivered once per messageId, then duplicate; rejected when the
event has no type; status and Retry-After as told."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import responses

URL = "https://ingest.example"
KEY = "server-key"


class FakeIngest:
    def __init__(self) -> None:
        self.delivered: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.answers: list[tuple[int, dict[str, str]]] = []  # (status, headers) to give first
        self.queue_every: int = 0  # every n-th event answered queued

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        auth = request.headers.get("Authorization", "")
        if auth != "Basic " + base64.b64encode(f"{KEY}:".encode()).decode():
            return 401, {}, json.dumps({"message": "Unauthorized: unknown write key"})
        body = json.loads(request.body)
        self.requests.append({"headers": dict(request.headers), "batch": body["batch"]})
        if self.answers:
            status, headers = self.answers.pop(0)
            return status, headers, json.dumps({"message": "busy"})
        results = []
        resend = request.headers.get("X-Replay") == "resend"
        for index, event in enumerate(body["batch"]):
            mid = event.get("messageId")
            if "type" not in event:
                outcome = "rejected"
            elif self.queue_every and (len(self.delivered) + 1) % self.queue_every == 0:
                outcome = "queued"
                self.delivered.append(mid)
            elif mid in self.delivered and not resend:
                outcome = "duplicate"
            else:
                outcome = "delivered"
                self.delivered.append(mid)
            result = {"index": index, "messageId": mid, "type": event.get("type"),
                      "outcome": outcome}  # fmt: skip
            if outcome == "rejected":
                error = {"path": "/", "message": "'type' is a required property"}
                result |= {"reason": "invalid Segment call", "errors": [error]}
            results.append(result)
        return 200, {}, json.dumps({"summary": {}, "results": results})


@contextmanager
def fake_ingest() -> Iterator[FakeIngest]:
    fake = FakeIngest()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.POST, f"{URL}/v1/batch", callback=fake)
        yield fake
