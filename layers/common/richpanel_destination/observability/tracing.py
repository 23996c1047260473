"""X-Ray subsegments through Powertools Tracer, only when switched on.

Importing the X-Ray SDK costs a cold start about 0.15 s, so with tracing disabled
(POWERTOOLS_TRACE_DISABLED=true, the template's default) the handlers get a
stand-in whose decorators return the function unchanged and nothing is imported.
Lambda's own Active tracing still records each invocation's segment.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])


class HandlerTracer(Protocol):
    """The part of Powertools Tracer the handlers use."""

    def capture_lambda_handler(self, handler: F) -> F: ...

    def capture_method(self, method: F) -> F: ...


class Untraced:
    """Tracer's decorators as no-ops."""

    def capture_lambda_handler(self, handler: F) -> F:
        return handler

    def capture_method(self, method: F) -> F:
        return method


def enabled(environ: dict[str, str] | None = None) -> bool:
    """False when POWERTOOLS_TRACE_DISABLED is true, as Powertools reads it."""
    value = (os.environ if environ is None else environ).get("POWERTOOLS_TRACE_DISABLED", "")
    return value.strip().lower() not in ("true", "1")


def tracer() -> HandlerTracer:
    """A Powertools Tracer when tracing is on, else an Untraced stand-in."""
    if not enabled():
        return Untraced()
    from aws_lambda_powertools import Tracer

    return cast(HandlerTracer, Tracer())
