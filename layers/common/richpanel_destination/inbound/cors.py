"""Which browser origins may send (the AllowedOrigins parameter) and what CORS answers them.

The template passes AllowedOrigins to the ingest function as ALLOWED_ORIGINS (comma
separated). Empty, the default: no browser origin may send (Segment's servers send no Origin
and are unaffected). ``*``: any origin. The function answers the preflights itself (both APIs
route OPTIONS to it) and checks ``Origin`` on every POST too, since a text/plain or beacon
POST is never preflighted (docs/security.md#browser-senders-cors).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

ENVIRONMENT_VARIABLE = "ALLOWED_ORIGINS"
ANY_ORIGIN = "*"
# What a browser sender may use: analytics.js sends Authorization (Basic writeKey:), a JSON or
# text/plain Content-Type, and X-Retry-Count on retries.
ALLOWED_METHODS = ("OPTIONS", "POST")
ALLOWED_HEADERS = ("authorization", "content-type", "x-retry-count")
# How long a browser may cache a preflight: Chromium caps Access-Control-Max-Age at 7,200 s
# (Firefox at 86,400), so a longer value buys nothing.
MAX_AGE_SECONDS = 7200


@dataclass(frozen=True)
class AllowedOrigins:
    """The origins a browser may send from; empty = none, ``*`` among them = any."""

    origins: tuple[str, ...] = ()

    @classmethod
    def parse(cls, raw: str) -> AllowedOrigins:
        """From AllowedOrigins as the template joins it: ``a,b``; a trailing ``/`` is dropped
        (an Origin header never has one) and scheme and host are compared lower-case."""
        origins = []
        for item in raw.split(","):
            origin = item.strip().rstrip("/").lower()
            if origin and origin not in origins:
                origins.append(origin)
        return cls(tuple(origins))

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> AllowedOrigins:
        """ALLOWED_ORIGINS of the environment (os.environ by default)."""
        return cls.parse((os.environ if env is None else env).get(ENVIRONMENT_VARIABLE, ""))

    @property
    def any(self) -> bool:
        """Every origin may send (``*``)."""
        return ANY_ORIGIN in self.origins

    def __bool__(self) -> bool:
        return bool(self.origins)

    def allows(self, origin: str | None) -> bool:
        """Whether a request carrying this Origin header may be answered (None: not a browser
        request, always allowed)."""
        if origin is None:
            return True
        return self.any or origin.strip().lower() in self.origins

    def refusal(self, origin: str) -> str:
        """The 403 message for an Origin not on the list."""
        if not self.origins:
            return (
                f"Origin {origin} is not allowed: this API accepts no browser senders "
                "(AllowedOrigins is empty)"
            )
        return f"Origin {origin} is not allowed to send to this API (not in AllowedOrigins)"
