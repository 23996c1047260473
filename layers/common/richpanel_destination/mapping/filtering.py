"""Which Segment calls go to Richpanel at all: call type and the Integrations object.

On the webhook route Segment has already applied the Integrations object: it forwards only what
the object lets through to the webhook destination. So there ``All: false`` is not applied a
second time: whatever names the object gives the webhook destination (``Webhooks``,
``Webhook``, ``Webhooks (Actions)``, in any casing, as an Engage audience sync sends
``{"All": false, "Webhooks (Actions)": true}``), the call reached us because Segment let
it. An explicit ``Richpanel: false`` still skips the call on every route
(docs/mapping.md#which-calls-are-sent).
"""

from __future__ import annotations

from typing import Any

from ..calls import DELIVERED_TYPES

DESTINATION_NAME = "richpanel"


def skip_reason(
    event: dict[str, Any], *, screens_as_page_views: bool = False, forwarded: bool = False
) -> str | None:
    """Why this call is acknowledged but not sent to Richpanel, or None to send it.

    ``forwarded``: the call came from a Segment webhook destination (the webhook route).
    """
    call_type = event.get("type")
    if call_type not in DELIVERED_TYPES and not (call_type == "screen" and screens_as_page_views):
        return f"Richpanel does not take {call_type} calls"
    integrations = event.get("integrations")
    if isinstance(integrations, dict):
        flags = {str(k).casefold(): v for k, v in integrations.items()}
        own = flags.get(DESTINATION_NAME)
        if own is False:
            return "integrations.Richpanel is false"
        if forwarded:
            return None  # Segment applied the rest before forwarding it to us
        if flags.get("all") is False and not own:
            return "integrations.All is false and Richpanel is not enabled"
    return None
