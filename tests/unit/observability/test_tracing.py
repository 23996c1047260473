"""Tracing: Powertools Tracer only when switched on; otherwise nothing of X-Ray loads."""

from __future__ import annotations

import pytest

from richpanel_destination.observability import tracing


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", False), ("TRUE", False), ("1", False), ("false", True), ("", True), ("0", True)],
)
def test_enabled_reads_powertools_trace_disabled(value: str, expected: bool) -> None:
    assert tracing.enabled({"POWERTOOLS_TRACE_DISABLED": value}) is expected


def test_disabled_gives_decorators_that_return_the_function(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    tracer = tracing.tracer()

    def handler(event: dict[str, str], context: object) -> str:
        return event["x"]

    assert isinstance(tracer, tracing.Untraced)
    assert tracer.capture_lambda_handler(handler) is handler
    assert tracer.capture_method(handler) is handler


def test_enabled_gives_a_powertools_tracer(monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools import Tracer

    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "false")
    assert isinstance(tracing.tracer(), Tracer)
