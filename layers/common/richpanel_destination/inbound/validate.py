"""Validate Segment events against the JSON Schemas shipped in schemas/."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from .. import timestamps

SCHEMA_DIR = Path(__file__).parent / "schemas"
# "segment-timestamp": the lenient ISO-8601 the pattern describes, and a real instant
# (no 30 February). Validators that do not know the format, like Protocols, ignore it.
FORMATS = FormatChecker(formats=())
FORMATS.checks("segment-timestamp")(lambda value: timestamps.parse(value) is not None)


@dataclass(frozen=True)
class Problem:
    """One validation failure: a JSON pointer into the event and what is wrong there."""

    pointer: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.pointer, "message": self.message}


def _load(name: str) -> dict[str, Any]:
    with (SCHEMA_DIR / name).open(encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema


@cache
def _registry() -> Registry:
    resources = [
        (path.name, Resource.from_contents(_load(path.name), default_specification=DRAFT7))
        for path in sorted(SCHEMA_DIR.glob("*.json"))
    ]
    return Registry().with_resources(resources)


@cache
def validator_for(call_type: str) -> Draft7Validator | None:
    """The validator for a call type, built once per container; None if no schema exists."""
    path = SCHEMA_DIR / f"{call_type}.json"
    if call_type == "common" or not path.exists():
        return None
    return Draft7Validator(_load(path.name), registry=_registry(), format_checker=FORMATS)


def _pointer(parts: Any) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _problem(error: ValidationError) -> Problem:
    path = list(error.absolute_path)
    message = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
    if error.validator == "required" and isinstance(error.validator_value, list):
        missing = [k for k in error.validator_value if k not in (error.instance or {})]
        if missing:
            path.append(missing[0])
            return Problem(_pointer(path), message or f"{missing[0]} is required")
    return Problem(_pointer(path), message or _describe(error))


def _describe(error: ValidationError) -> str:
    """A message that names the rule without echoing the (possibly personal) value."""
    name = _pointer(error.absolute_path)[1:] or "event"
    rule = error.validator_value
    match error.validator:
        case "maxLength":
            return f"{name} must be at most {rule} characters"
        case "minLength":
            return f"{name} must not be empty"
        case "type":
            kinds = " or ".join(rule) if isinstance(rule, list) else rule
            return f"{name} must be of type {kinds}"
        case "format":
            return f"{name} is not an ISO-8601 timestamp"
        case "pattern":
            return (
                f"{name} is not an ISO-8601 timestamp"
                if "\\d{4}" in rule
                else f"{name} is malformed"
            )
        case "const" | "enum":
            return (
                f"{name} must be {rule!r}"
                if error.validator == "const"
                else f"{name} must be one of {rule}"
            )
    return str(error.message)


def validate_event(event: Any) -> list[Problem]:
    """Every problem with one event, sorted by pointer; empty when it is valid."""
    if not isinstance(event, dict) or "__invalid__" in event:
        return [Problem("", "An event must be a JSON object")]
    call_type = event.get("type")
    if not isinstance(call_type, str) or not call_type:
        return [Problem("/type", "type is required and must be a string")]
    validator = validator_for(call_type)
    if validator is None:
        return [Problem("/type", f"Unknown call type {call_type!r}")]
    problems = {_problem(e) for e in validator.iter_errors(event)}
    return sorted(problems, key=lambda p: (p.pointer, p.message))
