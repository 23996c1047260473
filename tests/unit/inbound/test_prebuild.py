"""Validators generated at build time: same answers as the ones generated at run time."""

from __future__ import annotations

import importlib.util
import types
from functools import partial
from pathlib import Path
from typing import Any

import fastjsonschema
import pytest

from richpanel_destination.inbound import validate
from richpanel_destination.inbound.prebuild import write
from richpanel_destination.inbound.validate import CALL_TYPES, _bundled, schema_hash
from tests.unit.inbound.golden import golden_events


@pytest.fixture(scope="module")
def prebuilt(tmp_path_factory: pytest.TempPathFactory) -> dict[str, types.ModuleType]:
    """What the layer build writes, loaded from its files."""
    modules = {}
    for path in write(tmp_path_factory.mktemp("inbound") / "prebuilt"):
        spec = importlib.util.spec_from_file_location(f"_prebuilt_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules[path.stem] = module
    return modules


def _valid(check: Any, event: object) -> bool:
    try:
        check(event)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


def test_one_module_per_call_type_recording_its_schema(
    prebuilt: dict[str, types.ModuleType],
) -> None:
    assert set(prebuilt) == set(CALL_TYPES)
    for call_type, module in prebuilt.items():
        assert schema_hash(_bundled(f"{call_type}.json")) == module.SCHEMA_SHA256


def test_prebuilt_and_runtime_validators_agree_on_every_golden_event(
    prebuilt: dict[str, types.ModuleType],
) -> None:
    formats = {validate.TIMESTAMP_FORMAT: validate._is_timestamp}
    events = [e for e in golden_events() if e["type"] in prebuilt]
    verdicts = set()
    for event in events:
        runtime = fastjsonschema.compile(_bundled(f"{event['type']}.json"), formats=formats)
        built = partial(prebuilt[str(event["type"])].validate, custom_formats=formats)
        verdict = _valid(runtime, event)
        assert _valid(built, event) == verdict, event
        verdicts.add(verdict)
    assert len(events) > 80 and verdicts == {True, False}


def test_a_prebuilt_module_is_used_only_for_the_schema_it_came_from(
    prebuilt: dict[str, types.ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = _bundled("track.json")
    monkeypatch.setattr(importlib, "import_module", lambda name: prebuilt["track"])
    assert validate._prebuilt("track", schema) is not None
    assert validate._prebuilt("track", {**schema, "title": "edited since the build"}) is None


def test_a_source_checkout_has_none_and_compiles_at_run_time() -> None:
    assert not (Path(validate.__file__).parent / "prebuilt").exists()
    assert validate._prebuilt("track", _bundled("track.json")) is None
