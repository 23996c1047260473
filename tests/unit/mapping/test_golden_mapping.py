"""Golden cases of the MAPPING layer as data tests of the transform, in-process.

As rudder-transformer's processor data does: each mapping-only golden case (one valid event
in, one Richpanel call out, 200 delivered; the rule is tests/functions/golden_cases.py
``layer``) is checked by running ``to_richpanel`` on the request body's event and comparing
with the case's ``expect.richpanel`` call. The golden calls omit what the wire adds
(``appClientId`` and ``time.sentAt``), which ``to_richpanel`` never sets. The same cases'
status, answer and wire calls are checked through lambda_handler in
tests/handlers/test_golden_handler.py.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from richpanel_destination.mapping.transform import to_richpanel
from tests.functions.golden_cases import MAPPING, cases_in, load, mapping_event

MAPPING_CASES = cases_in(MAPPING)


def test_there_are_mapping_cases() -> None:
    assert len(MAPPING_CASES) >= 30


@pytest.mark.parametrize("path", MAPPING_CASES, ids=[p.stem for p in MAPPING_CASES])
def test_golden_mapping(path: Path) -> None:
    case = load(path)
    event = mapping_event(case)
    before = copy.deepcopy(event)
    (expected,) = case["expect"]["richpanel"]
    call = to_richpanel(event)
    assert "appClientId" not in call
    assert "sentAt" not in call.get("time", {})
    assert call == expected
    assert event == before  # the transform does not change the event it maps
