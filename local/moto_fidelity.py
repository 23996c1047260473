"""Where moto's SQS differs from AWS in ways the local stack depends on, made like AWS.

- Characters: SQS refuses a message body or string attribute with a character outside
  ``#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF``
  (InvalidMessageContents); moto stores anything. Here moto refuses them too, so every
  message any test queues through the local stack is checked against SQS's rule.

- Speed: moto recounts a queue's messages on every SendMessage (to read one queue
  attribute), calling ``datetime.utcnow()`` three times per message held. A retry queue
  with a few thousand messages then takes 50-150 ms per SendMessageBatch, where SQS takes
  10-20 ms. The counts below take the time once per count.
"""

from __future__ import annotations

import re
import time
from typing import Any

# SQS's allowed characters (Amazon SQS Developer Guide, message body and attributes)
REFUSED = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


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


def _refuse_characters(what: str, text: str) -> None:
    from moto.sqs.exceptions import SQSException

    found = REFUSED.search(text)
    if found is not None:
        raise SQSException(
            "InvalidMessageContents",
            f"Invalid characters found in {what}: U+{ord(found.group()):04X} at {found.start()}",
        )


def apply() -> None:
    """Patch moto's Queue and SQS backend in this process (idempotent)."""
    from moto.sqs.models import Queue, SQSBackend

    if getattr(Queue, "_local_fidelity", False):
        return
    validate, send = SQSBackend._validate_message, SQSBackend.send_message

    def validate_message(self: Any, queue: Any, message_body: str, *args: Any, **kw: Any) -> None:
        _refuse_characters("the message body", message_body)
        validate(self, queue, message_body, *args, **kw)

    def send_message(self: Any, queue_name: str, message_body: str, *args: Any, **kw: Any) -> Any:
        for name, value in (kw.get("message_attributes") or {}).items():
            text = value.get("StringValue", value.get("string_value")) or ""
            _refuse_characters(f"message attribute {name}", str(text))
        return send(self, queue_name, message_body, *args, **kw)

    SQSBackend._validate_message = validate_message  # type: ignore[method-assign]
    SQSBackend.send_message = send_message  # type: ignore[method-assign]
    Queue.messages = property(_visible)  # type: ignore[method-assign,assignment]
    Queue.approximate_number_of_messages = property(  # type: ignore[method-assign,assignment]
        lambda q: len(_visible(q))
    )
    Queue.approximate_number_of_messages_delayed = property(_delayed)  # type: ignore[method-assign,assignment]
    Queue.approximate_number_of_messages_not_visible = property(_not_visible)  # type: ignore[method-assign,assignment]
    Queue._local_fidelity = True  # type: ignore[attr-defined]
