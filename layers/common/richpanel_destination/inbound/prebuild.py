"""Generate the fast validators at build time (layers/common/Makefile runs this).

``python -m richpanel_destination.inbound.prebuild OUT_DIR`` writes one module per call
type with fastjsonschema's generated code and the hash of the schema it came from, so a
cold container imports a validator (~0.3 ms) instead of generating one (~5 ms).
validate.py uses a module only while its hash matches the schema files beside it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import fastjsonschema

from .validate import CALL_TYPES, TIMESTAMP_FORMAT, _bundled, _is_timestamp, schema_hash


def module_source(call_type: str) -> str:
    """The generated validator for one call type, as a module."""
    schema = _bundled(f"{call_type}.json")
    code = fastjsonschema.compile_to_code(schema, formats={TIMESTAMP_FORMAT: _is_timestamp})
    return (
        f'"""Generated from schemas/{call_type}.json by inbound/prebuild.py: do not edit."""\n'
        f"# ruff: noqa\n{code}\n"
        f"SCHEMA_SHA256 = {schema_hash(schema)!r}\n"
        f"validate = validate_{call_type}_json\n"
    )


def write(out_dir: Path) -> list[Path]:
    """One module per call type, plus the package's __init__.py."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "__init__.py").write_text('"""Generated validators."""\n', encoding="utf-8")
    written = []
    for call_type in sorted(CALL_TYPES):
        path = out_dir / f"{call_type}.py"
        path.write_text(module_source(call_type), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write(Path(sys.argv[1])):
        print(path)
