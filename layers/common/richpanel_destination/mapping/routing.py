"""Which Segment calls go to Richpanel at all: call type and the Integrations object."""

from __future__ import annotations

from typing import Any

DESTINATION_NAME = "richpanel"
DELIVERED_TYPES = frozenset({"identify", "track", "page"})


def skip_reason(event: dict[str, Any], *, screens_as_page_views: bool = False) -> str | None:
    """Why this call is acknowledged but not sent to Richpanel, or None to send it."""
    call_type = event.get("type")
    if call_type not in DELIVERED_TYPES and not (call_type == "screen" and screens_as_page_views):
        return f"Richpanel does not take {call_type} calls"
    integrations = event.get("integrations")
    if isinstance(integrations, dict):
        flags = {str(k).lower(): v for k, v in integrations.items()}
        own = flags.get(DESTINATION_NAME)
        if own is False:
            return "integrations.Richpanel is false"
        if flags.get("all") is False and not own:
            return "integrations.All is false and Richpanel is not enabled"
    return None
