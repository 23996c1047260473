"""Where moto's SQS differs from AWS in ways the local stack depends on, made like AWS.

- Speed: moto recounts a queue's messages on every SendMessage (to read one queue
  attribute), calling ``datetime.utcnow()`` three times per message held. A retry queue
  with a few thousand messages then takes 50-150 ms per SendMessageBatch, where SQS takes
  10-20 ms. The counts below take the time once per count.
"""

from __future__ import annotations

import time
from typing import Any


def _now_ms() -> float:
    return time.time() * 1000.0


def _visible(queue: Any) -> list[Any]:
    now = _now_ms()
    return [m for m in queue._messages if now > m.visible_at and now >= m.delayed_until]


def _delayed(queue: Any) -> int:
    now = _now_ms()
    return sum(1 for m in queue._messages if now < m.delayed_until)


def _not_visible(queue: Any) -> int:
    now = _now_ms()
    return sum(1 for m in queue._messages if now <= m.visible_at)


def apply() -> None:
    """Patch moto's Queue in this process (idempotent)."""
    from moto.sqs.models import Queue

    if getattr(Queue, "_local_fidelity", False):
        return
    Queue.messages = property(_visible)  # type: ignore[method-assign,assignment]
    Queue.approximate_number_of_messages = property(  # type: ignore[method-assign,assignment]
        lambda q: len(_visible(q))
    )
    Queue.approximate_number_of_messages_delayed = property(_delayed)  # type: ignore[method-assign,assignment]
    Queue.approximate_number_of_messages_not_visible = property(_not_visible)  # type: ignore[method-assign,assignment]
    Queue._local_fidelity = True  # type: ignore[attr-defined]
