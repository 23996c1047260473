"""Validate Segment events against the JSON Schemas shipped in schemas/.

Two validators share the same schema files. A compiled fastjsonschema check answers
"valid?" for every event (about 10x faster than jsonschema, so the hot path stays
cheap); only an event it refuses is run through jsonschema, which lists every problem
with its JSON pointer. jsonschema is imported on that first refusal, not at cold start.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fastjsonschema

from .. import timestamps

if TYPE_CHECKING:
    from jsonschema import Draft7Validator
    from jsonschema.exceptions import ValidationError

SCHEMA_DIR = Path(__file__).parent / "schemas"
COMMON = "common.json"
TIMESTAMP_FORMAT = "segment-timestamp"


def _is_timestamp(value: Any) -> bool:
    """ "segment-timestamp": the lenient ISO-8601 the pattern describes, and a real instant
    (no 30 February). Validators that do not know the format, like Protocols, ignore it."""
    return not isinstance(value, str) or timestamps.parse(value) is not None


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


# The call types with a schema; never build a file path from what a sender wrote.
CALL_TYPES = frozenset(p.stem for p in SCHEMA_DIR.glob("*.json")) - {Path(COMMON).stem}


def _schema_name(call_type: str) -> str | None:
    return f"{call_type}.json" if call_type in CALL_TYPES else None


def _bundled(name: str) -> dict[str, Any]:
    """A call type's schema with ``{"$ref": "common.json"}`` inlined (fastjsonschema input)."""
    common = _load(COMMON)
    body = {k: v for k, v in common.items() if k not in ("$id", "$schema", "definitions")}

    def inline(node: Any) -> Any:
        if node == {"$ref": COMMON}:
            return body
        if isinstance(node, dict):
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    schema: dict[str, Any] = inline(_load(name))
    schema["definitions"] = {**common.get("definitions", {}), **schema.get("definitions", {})}
    return schema


def schema_hash(schema: dict[str, Any]) -> str:
    """Identifies a bundled schema (a prebuilt validator records the one it came from)."""
    return hashlib.sha256(json.dumps(schema, sort_keys=True).encode("utf-8")).hexdigest()


def _prebuilt(call_type: str, schema: dict[str, Any]) -> Callable[[Any], Any] | None:
    """The validator the layer build generated for this schema (inbound/prebuild.py), if any."""
    try:
        module = importlib.import_module(f"{__package__}.prebuilt.{call_type}")
    except ImportError:
        return None  # a source checkout: not built
    if getattr(module, "SCHEMA_SHA256", None) != schema_hash(schema):
        return None  # generated from other schema files: never trust it
    return partial(module.validate, custom_formats={TIMESTAMP_FORMAT: _is_timestamp})


@cache
def fast_check_for(call_type: str) -> Callable[[Any], Any] | None:
    """The compiled check for a call type, once per container; None if no schema.

    The built layer ships it generated (about 0.3 ms to import); otherwise fastjsonschema
    generates it here (about 5 ms).
    """
    name = _schema_name(call_type)
    if name is None:
        return None
    schema = _bundled(name)
    check: Callable[[Any], Any] = _prebuilt(call_type, schema) or fastjsonschema.compile(
        schema, formats={TIMESTAMP_FORMAT: _is_timestamp}
    )
    return check


@cache
def validator_for(call_type: str) -> Draft7Validator | None:
    """The detailed validator for a call type, built on first need; None if no schema."""
    from jsonschema import Draft7Validator, FormatChecker
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7

    name = _schema_name(call_type)
    if name is None:
        return None
    registry = Registry().with_resources(
        (path.name, Resource.from_contents(_load(path.name), default_specification=DRAFT7))
        for path in sorted(SCHEMA_DIR.glob("*.json"))
    )
    formats = FormatChecker(formats=())
    formats.checks(TIMESTAMP_FORMAT)(_is_timestamp)
    return Draft7Validator(_load(name), registry=registry, format_checker=formats)


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
    return f"{name} does not meet the schema's {error.validator} rule"  # error.message quotes it


def validate_event(event: Any) -> list[Problem]:
    """Every problem with one event, sorted by pointer; empty when it is valid."""
    if not isinstance(event, dict) or "__invalid__" in event:
        return [Problem("", "An event must be a JSON object")]
    call_type = event.get("type")
    if not isinstance(call_type, str) or not call_type:
        return [Problem("/type", "type is required and must be a string")]
    fast = fast_check_for(call_type)
    if fast is None:
        known = ", ".join(sorted(CALL_TYPES))
        return [Problem("/type", f"Unknown call type; type must be one of {known}")]
    try:
        fast(event)
    except fastjsonschema.JsonSchemaValueException:
        pass  # refused: ask jsonschema for every problem and where it is
    else:
        return []
    validator = validator_for(call_type)
    assert validator is not None  # same schema files as the fast check
    problems = {_problem(e) for e in validator.iter_errors(event)}
    return sorted(problems, key=lambda p: (p.pointer, p.message))
