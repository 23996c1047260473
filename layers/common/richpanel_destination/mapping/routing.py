"""Which Segment calls go to Richpanel at all: call type and the Integrations object."""

from __future__ import annotations

from typing import Any

from .table import TABLES

DESTINATION_NAME = "richpanel"


def skip_reason(event: dict[str, Any]) -> str | None:
    """Why this call is acknowledged but not sent to Richpanel, or None to send it."""
    call_type = event.get("type")
    if call_type not in TABLES:
        return f"Richpanel does not take {call_type} calls"
    integrations = event.get("integrations")
    if isinstance(integrations, dict):
        flags = {str(k).lower(): v for k, v in integrations.items()}
        own = flags.get(DESTINATION_NAME)
        if own is False:
            return "disabled for Richpanel in the integrations object"
        if flags.get("all") is False and not own:
            return "integrations.All is false and Richpanel is not enabled"
    return None
