"""Tests of the sandbox's chaos mode (fail_rate / failures / seed) and /_sandbox/accepted."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from local.sandbox import Sandbox, start_sandbox

KEY = "test-key"
SECRET = "test-secret"


def signed(field: str, payload: dict[str, Any]) -> dict[str, str]:
    """A /t or /bt body: base64 JSON signed md5(b64 + secret)."""
    encoded = base64.b64encode(json.dumps(payload).encode("utf-8")).decode("ascii")
    return {field: encoded, "s": hashlib.md5((encoded + SECRET).encode()).hexdigest()}


def call(event_id: str = "e1", **extra: Any) -> dict[str, Any]:
    """A valid track call with an eventId."""
    return {
        "appClientId": KEY,
        "event": "track",
        "eventId": event_id,
        "userProperties": {"uid": "u1"},
        **extra,
    }


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A signed (md5) sandbox on a free port."""
    server = start_sandbox(KEY, SECRET, "md5", port=0)
    yield server
    server.stop()


def behave(sandbox: Sandbox, **behaviour: Any) -> dict[str, Any]:
    """POST /_sandbox/behaviour; returns the behaviour the sandbox echoes."""
    response = requests.post(f"{sandbox.url}/_sandbox/behaviour", json=behaviour, timeout=5)
    assert response.status_code == 200, response.text
    return dict(response.json()["behaviour"])


def track(sandbox: Sandbox, event_id: str = "e1", timeout: float = 5) -> requests.Response:
    """POST one signed track call to /v2/t."""
    return requests.post(f"{sandbox.url}/v2/t", json=signed("h", call(event_id)), timeout=timeout)


def calls(sandbox: Sandbox) -> list[dict[str, Any]]:
    """Recorded entries."""
    return list(requests.get(f"{sandbox.url}/_sandbox/calls", timeout=5).json()["calls"])


def accepted(sandbox: Sandbox) -> dict[str, Any]:
    """GET /_sandbox/accepted."""
    response = requests.get(f"{sandbox.url}/_sandbox/accepted", timeout=5)
    assert response.status_code == 200
    return dict(response.json())


@pytest.mark.parametrize(
    ("failure", "retry_after"),
    [({"status": 500}, None), ({"status": 503}, None), ({"status": 429, "retry_after": 1}, "1")],
)
def test_status_failure(sandbox: Sandbox, failure: dict[str, Any], retry_after: str | None) -> None:
    """fail_rate 1 with a status failure answers that status (Retry-After when given)."""
    shown = behave(sandbox, fail_rate=1.0, failures=[failure])
    assert shown["fail_rate"] == 1.0
    assert shown["failures"] == [failure]
    response = track(sandbox)
    assert response.status_code == failure["status"]
    assert response.headers.get("Retry-After") == retry_after
    assert set(response.json()) == {"error"}
    [entry] = calls(sandbox)
    assert entry["status"] == failure["status"]
    assert entry["accepted"] is False
    assert entry["error"] == f"injected status {failure['status']}"
    assert entry["call"]["eventId"] == "e1"


def test_timeout_failure(sandbox: Sandbox) -> None:
    """A timeout failure waits timeout_ms, then answers 504; the call is not accepted."""
    behave(sandbox, fail_rate=1, failures=[{"timeout_ms": 200}])
    started = time.monotonic()
    response = track(sandbox)
    assert time.monotonic() - started >= 0.2
    assert response.status_code == 504
    assert "timeout" in response.json()["error"]
    [entry] = calls(sandbox)
    assert (entry["status"], entry["accepted"]) == (504, False)
    assert accepted(sandbox) == {"accepted": {}, "total": 0}


def test_timeout_longer_than_the_client_waits(sandbox: Sandbox) -> None:
    """A client that gives up first sees a read timeout; the sandbox keeps serving."""
    behave(sandbox, failures=[{"timeout_ms": 1000}], times=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        track(sandbox, timeout=0.2)
    assert calls(sandbox)[0]["status"] == 504  # recorded when the request arrived
    assert track(sandbox).status_code == 200


def test_reset_failure(sandbox: Sandbox, capfd: pytest.CaptureFixture[str]) -> None:
    """A reset aborts the connection without an answer; no traceback, server keeps going."""
    behave(sandbox, fail_rate=1.0, failures=[{"reset": True}], times=2)
    with pytest.raises(requests.exceptions.ConnectionError) as raised:
        track(sandbox)
    assert "reset" in str(raised.value).lower()
    with requests.Session() as session, pytest.raises(requests.exceptions.ConnectionError):
        session.post(f"{sandbox.url}/v2/t", json=signed("h", call("e2")), timeout=5)
    assert track(sandbox, "e3").status_code == 200  # times=2 used up
    entries = calls(sandbox)
    assert [(e["status"], e["accepted"]) for e in entries] == [
        (None, False),
        (None, False),
        (200, True),
    ]
    assert entries[0]["error"] == "injected connection reset"
    assert requests.get(f"{sandbox.url}/_sandbox/health", timeout=5).status_code == 200
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err


def test_fail_rate_zero_never_fails(sandbox: Sandbox) -> None:
    """fail_rate 0 answers everything normally (and the contract checks still apply)."""
    shown = behave(sandbox, fail_rate=0, failures=[{"status": 500}, {"reset": True}])
    assert shown["fail_rate"] == 0
    assert {track(sandbox, f"e{i}").status_code for i in range(30)} == {200}
    wrong = requests.post(f"{sandbox.url}/v2/t", json=signed("h", call(appClientId="x")), timeout=5)
    assert wrong.status_code == 200  # as Richpanel: answered, but dropped
    assert calls(sandbox)[-1]["dropped"] == "unknown appClientId"
    assert accepted(sandbox)["total"] == 30


def test_seeded_runs_are_reproducible(sandbox: Sandbox) -> None:
    """The same seed gives the same sequence of outcomes; both outcomes occur."""
    mix = {"fail_rate": 0.5, "seed": 7, "failures": [{"status": 500}, {"status": 503}]}

    def run() -> list[int]:
        behave(sandbox, **mix)
        return [track(sandbox, f"e{i}").status_code for i in range(40)]

    first, second = run(), run()
    assert first == second
    assert {200, 500, 503} <= set(first)
    assert behave(sandbox, **mix)["seed"] == 7


def test_times_counts_chaos_decisions(sandbox: Sandbox) -> None:
    """times counts requests that went through the draw, failed or not; then normal."""
    behave(sandbox, fail_rate=1, failures=[{"status": 500}], times=2)
    assert [track(sandbox).status_code for _ in range(3)] == [500, 500, 200]
    assert requests.get(f"{sandbox.url}/_sandbox/behaviour", timeout=5).json() == {
        "behaviour": None
    }


def test_chaos_combines_with_delay_and_status(sandbox: Sandbox) -> None:
    """Requests the draw spares still get the plain behaviour (delay, status)."""
    behave(sandbox, fail_rate=0, failures=[{"status": 500}], status=418, delay_ms=50)
    response = track(sandbox)
    assert response.status_code == 418
    assert response.elapsed.total_seconds() >= 0.05


def test_plain_behaviour_keeps_its_shape(sandbox: Sandbox) -> None:
    """Without chaos fields the behaviour JSON has exactly the old keys."""
    shown = behave(sandbox, status=503, times=1)
    assert set(shown) == {"status", "delay_ms", "retry_after", "times", "body"}
    assert track(sandbox).status_code == 503
    assert calls(sandbox)[0]["accepted"] is False


INVALID_CHAOS: list[dict[str, Any]] = [
    {"fail_rate": 1.5, "failures": [{"status": 500}]},
    {"fail_rate": "0.5", "failures": [{"status": 500}]},
    {"fail_rate": 0.5},
    {"fail_rate": 0.5, "failures": []},
    {"failures": {"status": 500}},
    {"failures": [{"status": 500, "reset": True}]},
    {"failures": [{"status": 99}]},
    {"failures": [{"reset": False}]},
    {"failures": [{"timeout_ms": -1}]},
    {"failures": [{"timeout_ms": 10, "retry_after": 1}]},
    {"failures": [{}]},
    {"seed": 3},
    {"fail_rate": 1, "seed": "x", "failures": [{"status": 500}]},
]


def test_invalid_chaos_is_rejected(sandbox: Sandbox) -> None:
    """Malformed chaos settings answer 400 and leave the behaviour unchanged."""
    for body in INVALID_CHAOS:
        response = requests.post(f"{sandbox.url}/_sandbox/behaviour", json=body, timeout=5)
        assert response.status_code == 400, body
    assert requests.get(f"{sandbox.url}/_sandbox/behaviour", timeout=5).json() == {
        "behaviour": None
    }


def test_failures_without_fail_rate_always_fail(sandbox: Sandbox) -> None:
    """A failures list alone means fail_rate 1."""
    assert behave(sandbox, failures=[{"status": 502}])["fail_rate"] == 1.0
    assert track(sandbox).status_code == 502


def test_accepted_counts_per_event_id(sandbox: Sandbox) -> None:
    """Only 2xx answers count; batch events count one by one; DELETE calls clears."""
    assert accepted(sandbox) == {"accepted": {}, "total": 0}
    behave(sandbox, failures=[{"status": 500}], times=1)
    assert track(sandbox, "a").status_code == 500
    assert track(sandbox, "a").status_code == 200
    assert track(sandbox, "a").status_code == 200
    batch = {"appClientId": KEY, "events": [call("b"), call("c"), call("a")]}
    response = requests.post(f"{sandbox.url}/v2/bt", json=signed("hs", batch), timeout=5)
    assert response.status_code == 200
    no_id = {key: value for key, value in call().items() if key != "eventId"}
    response = requests.post(f"{sandbox.url}/v2/t", json=signed("h", no_id), timeout=5)
    assert response.status_code == 200
    assert accepted(sandbox) == {"accepted": {"a": 3, "b": 1, "c": 1}, "total": 6}
    assert [e["accepted"] for e in calls(sandbox)] == [False] + [True] * 6
    assert requests.put(f"{sandbox.url}/_sandbox/accepted", timeout=5).status_code == 405
    requests.delete(f"{sandbox.url}/_sandbox/calls", timeout=5).raise_for_status()
    assert accepted(sandbox) == {"accepted": {}, "total": 0}


def test_fifty_concurrent_clients_under_chaos(
    sandbox: Sandbox, capfd: pytest.CaptureFixture[str]
) -> None:
    """50 concurrent clients with a mixed failure rate: server survives, counts add up."""
    mix = [{"status": 500}, {"status": 429, "retry_after": 1}, {"timeout_ms": 50}, {"reset": True}]
    behave(sandbox, fail_rate=0.4, seed=11, failures=mix)

    def client(worker: int) -> list[int | None]:
        statuses: list[int | None] = []
        for index in range(4):
            try:
                statuses.append(track(sandbox, f"w{worker}-{index}").status_code)
            except requests.exceptions.ConnectionError:
                statuses.append(None)
        return statuses

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = [status for statuses in pool.map(client, range(50)) for status in statuses]
    seen = Counter(results)
    assert sum(seen.values()) == 200
    assert seen[200] and seen[None] and seen[504]
    entries = calls(sandbox)
    assert len(entries) == 200
    assert Counter(e["status"] for e in entries) == seen
    counts = accepted(sandbox)
    assert counts["total"] == seen[200] == sum(e["accepted"] for e in entries)
    assert set(counts["accepted"].values()) == {1}
    assert requests.get(f"{sandbox.url}/_sandbox/health", timeout=5).status_code == 200
    assert "Traceback" not in capfd.readouterr().err


def test_rate_limit_refuses_beyond_the_rate_with_retry_after(sandbox: Sandbox) -> None:
    """rate_limit: per_second requests a window answer normally, the rest 429 + Retry-After;
    refused requests do not count; a new window lets per_second through again."""
    shown = behave(sandbox, rate_limit={"per_second": 5, "retry_after": 2})
    assert shown["rate_limit"] == {"per_second": 5, "retry_after": 2}
    assert requests.get(f"{sandbox.url}/_sandbox/behaviour", timeout=5).json()["behaviour"][
        "rate_limit"
    ] == {"per_second": 5, "retry_after": 2}
    answers = [track(sandbox, f"e{i}") for i in range(8)]  # well within one second
    assert [a.status_code for a in answers] == [200] * 5 + [429] * 3
    assert {a.headers.get("Retry-After") for a in answers[5:]} == {"2"}
    assert "rate limit" in answers[5].json()["error"]
    entries = calls(sandbox)
    assert [e["status"] for e in entries] == [200] * 5 + [429] * 3
    assert entries[-1]["error"] == "injected rate limit 429"
    assert entries[-1]["accepted"] is False
    assert accepted(sandbox)["total"] == 5
    time.sleep(1.05)  # the window has closed
    assert [track(sandbox, f"n{i}").status_code for i in range(6)] == [200] * 5 + [429]


def test_rate_limit_defaults_and_combines(sandbox: Sandbox) -> None:
    """retry_after defaults to 1 (null: no header); times and delay_ms still apply."""
    assert behave(sandbox, rate_limit={"per_second": 1})["rate_limit"] == {
        "per_second": 1,
        "retry_after": 1,
    }
    assert [track(sandbox).status_code for _ in range(2)] == [200, 429]
    behave(sandbox, rate_limit={"per_second": 1, "retry_after": None}, delay_ms=50, times=3)
    first, second = track(sandbox), track(sandbox)
    assert (first.status_code, second.status_code) == (200, 429)
    assert "Retry-After" not in second.headers
    assert second.elapsed.total_seconds() >= 0.05
    assert track(sandbox).status_code == 429  # the third of times=3, same window
    assert track(sandbox).status_code == 200  # times used up: normal again
    assert requests.get(f"{sandbox.url}/_sandbox/behaviour", timeout=5).json() == {
        "behaviour": None
    }


def test_rate_limit_under_concurrency_lets_exactly_the_rate_through(sandbox: Sandbox) -> None:
    """40 concurrent requests inside one window: exactly per_second are answered 200."""
    behave(sandbox, rate_limit={"per_second": 10, "retry_after": 1})
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(lambda i: track(sandbox, f"c{i}").status_code, range(40)))
    elapsed = time.monotonic() - started
    seen = Counter(statuses)
    assert set(seen) == {200, 429} and sum(seen.values()) == 40
    # well under a second on a quiet machine; a loaded one may open a window or two more
    assert 10 <= seen[200] <= 10 * (int(elapsed) + 1), (seen, elapsed)
    assert sum(e["accepted"] for e in calls(sandbox)) == seen[200]


@pytest.mark.parametrize(
    "rate_limit",
    [
        {},
        {"per_second": 0},
        {"per_second": 1.5},
        {"per_second": "10"},
        {"per_second": True},
        {"per_second": 5, "retry_after": -1},
        {"per_second": 5, "retry_after": 0.5},
        {"per_second": 5, "burst": 2},
        [5],
        5,
    ],
)
def test_invalid_rate_limit_is_rejected(sandbox: Sandbox, rate_limit: Any) -> None:
    """A malformed rate_limit answers 400 and leaves the behaviour unchanged."""
    response = requests.post(
        f"{sandbox.url}/_sandbox/behaviour", json={"rate_limit": rate_limit}, timeout=5
    )
    assert response.status_code == 400, rate_limit
    assert "rate_limit" in response.json()["error"]
    assert requests.get(f"{sandbox.url}/_sandbox/behaviour", timeout=5).json() == {
        "behaviour": None
    }
