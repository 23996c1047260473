"""The Segment call types, in one place (schemas, routes, filtering and metrics use these)."""

from __future__ import annotations

# Every call type with a JSON Schema in inbound/schemas/ (a test keeps the two the same).
CALL_TYPES = ("identify", "track", "page", "screen", "group", "alias", "delete")
# Call types with a route of their own, /v1/<type> and analytics.js' /v1/<first letter>;
# delete reaches us only inside a batch or from a webhook.
ROUTED_TYPES = ("identify", "track", "page", "screen", "group", "alias")
# What Richpanel takes (screen too, with SCREENS_AS_PAGE_VIEWS).
DELIVERED_TYPES = frozenset({"identify", "track", "page"})
