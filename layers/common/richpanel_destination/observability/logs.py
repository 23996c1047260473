"""The functions' Logger: compact JSON lines, the invocation's own keys on its first line only.

CloudWatch Logs bills every byte ingested, and a line runs per event, so a line carries only
what an operator reads (docs/operations.md, "Logs"): ``level``, ``message``, the line's own
keys and, on ingest, ``correlation_id`` (the API Gateway request id). Left out of every line:
Powertools' ``location``, ``timestamp`` (CloudWatch stamps each log event: ``@timestamp``),
``service`` (the log group names the function and the stack), ``sampling_rate`` and the
Lambda context keys ``inject_lambda_context`` would repeat on each line (function name, ARN,
memory). What tells one invocation from another (``function_request_id``, ``cold_start``,
``xray_trace_id``, and keys given to ``first_line``) is written once: on the invocation's
first line, whatever it is.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

from .redact import Redactor

# Powertools' keys no reader uses (the first three would also repeat on every line)
DROPPED = frozenset({"service", "sampling_rate", "location", "timestamp"})
INVOCATION_KEYS = ("function_request_id", "cold_start", "xray_trace_id")


class _FirstLine:
    """Keys for the next line written (one invocation's), then none until the next one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, Any] = {}

    def set(self, keys: dict[str, Any]) -> None:
        with self._lock:
            self._keys = dict(keys)

    def add(self, keys: dict[str, Any]) -> None:
        with self._lock:
            if self._keys:  # the first line is still to come
                self._keys |= keys

    def take(self) -> dict[str, Any]:
        with self._lock:
            keys, self._keys = self._keys, {}
        return keys


_first = _FirstLine()
_cold = [True]


def serializer(redactor: Redactor) -> Callable[[dict[str, Any]], str]:
    """A json_serializer: Powertools' record, trimmed, the first line's keys added, redacted."""

    def serialize(record: dict[str, Any]) -> str:
        line = {k: v for k, v in record.items() if k not in DROPPED}
        extra = _first.take()
        if extra:
            line |= {k: v for k, v in extra.items() if v is not None}
        return redactor.serializer(line)

    return serialize


def new_logger(redactor: Redactor) -> Logger:
    """The Logger of a function (Powertools; one per service name, shared by its modules)."""
    return Logger(
        json_serializer=serializer(redactor),
        log_record_order=["level", "message"],
        location=None,
        timestamp=None,
        xray_trace_id=None,  # on the first line only
    )


def first_line(**keys: Any) -> None:
    """Keys for this invocation's first line only (when it is still to be written)."""
    _first.add(keys)


def trace_id() -> str | None:
    """The X-Ray trace id of this invocation (Lambda's _X_AMZN_TRACE_ID Root), if any."""
    header = os.environ.get("_X_AMZN_TRACE_ID")
    if not header:
        return None
    return header.split(";")[0].replace("Root=", "")


def inject_invocation(
    logger: Logger, correlation_id: Callable[[dict[str, Any]], str | None] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """As Powertools' inject_lambda_context(clear_state=True), its keys on the first line only.

    ``correlation_id``: the event's correlation id (ingest: the API Gateway request id), set on
    every line of the invocation.
    """

    def decorator(handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        def decorate(event: dict[str, Any], context: Any, *args: Any, **kwargs: Any) -> Any:
            logger.clear_state()
            cold, _cold[0] = _cold[0], False
            _first.set(
                {
                    "function_request_id": getattr(context, "aws_request_id", None),
                    "cold_start": cold or None,  # written when true only
                    "xray_trace_id": trace_id(),
                }
            )
            if correlation_id is not None:
                logger.set_correlation_id(correlation_id(event))
            return handler(event, context, *args, **kwargs)

        return decorate

    return decorator


def api_gateway_request_id(event: dict[str, Any]) -> str | None:
    """An API Gateway REST proxy event's requestContext.requestId."""
    context = event.get("requestContext") if isinstance(event, dict) else None
    found = context.get("requestId") if isinstance(context, dict) else None
    return found if isinstance(found, str) else None
