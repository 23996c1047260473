"""A replay's request to send again on purpose: the ``X-Replay: resend`` header.

A replay with ``--resend`` (docs/operations.md#backfill-and-replay) sends events that were
already delivered, after a mapping fix. Idempotency would answer ``duplicate``; with
this header ingest claims a delivered event's record anew (delivery/dedupe.py), sends it
with the same ``eventId`` (its messageId) and records it again. The freshest-data guard is
unchanged: it already lets a value through whose event time equals its mark and strips one
that is older, so a resend never overwrites newer data.

Only a server-scope sender may ask: a browser write key's request with the header is
refused (403), and any other value of the header is refused (400), never ignored.
"""

from __future__ import annotations

from collections.abc import Mapping

from .scopes import SERVER

HEADER = "x-replay"
RESEND = "resend"


class ReplayRefused(Exception):
    """The header asks for what this sender may not do, or for something unknown."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def resend_requested(headers: Mapping[str, str] | None, scope: str) -> bool:
    """Whether the request asks to resend delivered events (ReplayRefused if it may not)."""
    value = next((v for k, v in (headers or {}).items() if k.lower() == HEADER), None)
    if value is None:
        return False
    if value.strip().lower() != RESEND:
        raise ReplayRefused(f"X-Replay: only {RESEND!r} is understood, not {value!r}", 400)
    if scope != SERVER:
        raise ReplayRefused("X-Replay: resend needs a server write key", 403)
    return True
