"""HTTP client for Richpanel's ingest API: one pooled session per container."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Timeout

from ..secrets import RichpanelCredentials
from ..settings import Settings
from . import wire
from .outcomes import Outcome, from_exception, from_response

USER_AGENT = "richpanel-destination/0.1 (+segment)"


class RichpanelClient:
    """Sends call objects to Richpanel and classifies each answer."""

    def __init__(
        self,
        settings: Settings,
        session: requests.Session | None = None,
        pool_size: int = 16,
    ) -> None:
        self._settings = settings
        self._url = settings.base_url + wire.TRACK_PATH
        self._batch_url = settings.base_url + wire.BATCH_PATH
        self._timeout = (settings.connect_timeout, settings.read_timeout)
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        session.headers.update({"Content-Type": "application/json", "User-Agent": USER_AGENT})
        self._session = session

    def _signing(self, credentials: RichpanelCredentials) -> dict[str, Any]:
        """What the wire needs besides the calls: credentials, signing, and now."""
        return {
            "app_client_id": credentials.api_key,
            "secret": credentials.api_secret,
            "signing": self._settings.signing,
            "sent_at_ms": int(time.time() * 1000),
        }

    def encode(self, call: Mapping[str, Any], credentials: RichpanelCredentials) -> bytes:
        """The exact request body for a call, signed and stamped now."""
        return wire.encode_call(call, **self._signing(credentials))

    def encode_batch(
        self, calls: Sequence[Mapping[str, Any]], credentials: RichpanelCredentials
    ) -> bytes:
        """The exact /bt request body for several calls, signed and stamped now."""
        return wire.encode_batch(calls, **self._signing(credentials))

    def send(
        self,
        call: Mapping[str, Any],
        credentials: RichpanelCredentials,
        within: float | None = None,
    ) -> Outcome:
        """POST one call, over within ``within`` seconds in all; never raises for HTTP or
        transport failures."""
        return self._post(self._url, self.encode(call, credentials), within)

    def send_batch(
        self,
        calls: Sequence[Mapping[str, Any]],
        credentials: RichpanelCredentials,
        within: float | None = None,
    ) -> Outcome:
        """POST several calls in one /bt request: one outcome for all of them; never raises."""
        return self._post(self._batch_url, self.encode_batch(calls, credentials), within)

    def timeout(self, within: float | None) -> Timeout:
        """Connect and read timeouts, and a total (connect plus read) of at most ``within``."""
        connect, read = self._timeout
        if within is None:
            return Timeout(connect=connect, read=read, total=connect + read)
        return Timeout(connect=min(connect, within), read=min(read, within), total=within)

    def _post(self, url: str, body: bytes, within: float | None) -> Outcome:
        """POST a body and classify the answer, with its latency."""
        started = time.perf_counter()
        try:
            # requests passes a urllib3 Timeout through (its stubs only list floats)
            timeout: Any = self.timeout(within)
            response = self._session.post(url, data=body, timeout=timeout)
        except requests.RequestException as exc:
            outcome = from_exception(exc)
        else:
            outcome = from_response(response.status_code, response.headers, response.text)
        return replace(outcome, latency_ms=round((time.perf_counter() - started) * 1000, 1))
