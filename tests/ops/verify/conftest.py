"""verify's test fixtures: the fake Richpanel behind responses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses

from .helpers import FakeRichpanel


@pytest.fixture
def richpanel() -> Iterator[FakeRichpanel]:
    """A fake Richpanel; any other HTTP request fails the test."""
    fake = FakeRichpanel()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        yield fake
