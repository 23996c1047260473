"""trace and audit end to end through one local stack (``python -m local.run --log-file``).

One stack for every test here, so the module stays quick: queued once then delivered, dead-
lettered at once, lookups by email and by order id, and an audit that finds an event taken
off the retry queue by hand.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from ops.audit import cli as audit_cli
from ops.trace import cli as trace_cli
from tests.integration.conftest import Stack, running_stack, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("trace-stack")) as started:
        yield started


@pytest.fixture(autouse=True)
def _fresh(stack: Stack) -> None:
    """A normal sandbox, the breaker closed; queues are left as they are (no purge)."""
    if stack.process.poll() is not None:
        pytest.fail(f"local stack died:\n{stack.log_tail()}")
    stack.reset_behaviour()
    stack.close_breaker()


def run(main: Any, stack: Stack, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    assert stack.ready_file is not None
    code = main([*argv, "--ready-file", str(stack.ready_file)], out=out)
    return code, out.getvalue()


def trace(stack: Stack, *argv: str) -> tuple[int, str]:
    return run(trace_cli.main, stack, *argv)


def track(stack: Stack, message_id: str, **extra: Any) -> dict[str, Any]:
    event = {"type": "track", "event": "Order Completed", "userId": "u-trace"}
    event |= {"messageId": message_id, **extra}
    response = stack.post("/v1/track", event)
    response.raise_for_status()
    result: dict[str, Any] = response.json()["results"][0]
    return result


def test_queued_once_then_delivered_shows_both_attempts_and_the_fate(stack: Stack) -> None:
    stack.set_behaviour(status=503, times=1)
    properties = {"order_id": "o-trace-1", "total": 30}
    traits = {"email": "Trace.Me@Example.com"}
    assert (
        track(stack, "m-trace-1", properties=properties, context={"traits": traits})["outcome"]
        == "queued"
    )

    def delivered() -> str | None:
        code, out = trace(stack, "--message-id", "m-trace-1")
        return out if code == 0 and "=> delivered" in out else None

    out = wait_for(delivered, timeout=15, interval=0.2, what="the retry's delivery logged")
    lines = out.splitlines()
    assert lines[0].startswith("messageId m-trace-1 (userId u-trace, email hash:")
    assert "orderId o-trace-1" in lines[0]
    assert "ingest   queued" in lines[1] and "attempt 1" in lines[1]
    assert "Richpanel 503" in lines[1] and " ms " in lines[1]
    assert "retry    delivered" in lines[2] and "attempt 2" in lines[2]
    assert "Richpanel 200" in lines[2]
    assert lines[3].startswith("  => delivered on attempt 2, ")
    assert lines[3].endswith(" after it arrived")

    # by email as a person types it (case, blanks), and by order id: the same event
    code, by_email = trace(stack, "--email", "  trace.me@EXAMPLE.com ")
    assert code == 0 and by_email == out
    code, by_order = trace(stack, "--order-id", "o-trace-1")
    assert code == 0 and by_order == out


def test_dead_lettered_shows_the_dlq_and_the_reason(stack: Stack) -> None:
    stack.set_behaviour(status=400, times=1)
    assert track(stack, "m-trace-2")["outcome"] == "dead_lettered"
    code, out = trace(stack, "--message-id", "m-trace-2")
    assert code == 0
    assert "ingest   dead_lettered  attempt 1  Richpanel 400" in out
    assert "  => in the DLQ: Richpanel answered 400: " in out


def test_nothing_found_is_said_and_exits_1(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = trace(stack, "--user-id", "nobody-at-all")
    assert (code, out) == (1, "")
    assert "nothing found for userId nobody-at-all" in capsys.readouterr().err


def test_audit_finds_an_event_taken_off_the_retry_queue_by_hand(stack: Stack) -> None:
    since = datetime.now(UTC).isoformat()  # this test's events only
    # queued with Retry-After: SQS holds it back (DelaySeconds), the retry function cannot
    # take it, and neither can a receive; so it is purged by hand (moto allows one purge a
    # minute, which is why this module's tests do not purge between tests)
    stack.set_behaviour(status=503, retry_after=60, times=1)
    assert track(stack, "m-trace-lost")["outcome"] == "queued"
    retry_queue = stack.queue_url("RetryQueue")
    assert stack.queue_counts("RetryQueue")["delayed"] == 1
    stack.sqs.purge_queue(QueueUrl=retry_queue)
    assert stack.queue_total("RetryQueue") == 0

    code, out = trace(stack, "--message-id", "m-trace-lost")
    assert code == 0 and "next in 60 s" in out
    assert "=> still queued (in the retry queue), next attempt in about " in out

    window = ["--since", since]
    code, out = run(audit_cli.main, stack, *window)
    assert code == 0  # within the retry window: still in flight as far as the logs say
    assert "in flight    m-trace-lost  last queued" in out
    code, out = run(audit_cli.main, stack, *window, "--retry-window", "0", "--margin", "0")
    assert code == 1
    assert "UNACCOUNTED  m-trace-lost  last queued" in out
    assert "1 accepted, 1 unaccounted, 0 in flight" in out
