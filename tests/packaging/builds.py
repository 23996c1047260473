"""The two `sam build` outputs the packaging tests read, and whether they are current.

``.aws-sam/build`` is the arm64 artifact that deploys; ``.aws-sam/host/build`` is the same
build for this machine (`make build-host`), whose handlers can run here.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / ".aws-sam" / "build"
HOST_BUILD = ROOT / ".aws-sam" / "host" / "build"
SOURCES = [ROOT / "template.yaml", *(ROOT / "functions").rglob("*.py")]
SOURCES += [p for p in (ROOT / "layers" / "common").rglob("*") if p.is_file()]


def not_built() -> str | None:
    """Why .aws-sam/build or .aws-sam/host/build cannot be tested, if one is missing or stale."""
    newest = max(
        (p for p in SOURCES if "__pycache__" not in p.parts), key=lambda p: p.stat().st_mtime
    )
    for build in (BUILD, HOST_BUILD):
        built = build / "template.yaml"
        where = built.parent.relative_to(ROOT)
        if not built.exists():
            return f"no {where}: run `make build-test`"
        if newest.stat().st_mtime > built.stat().st_mtime:
            return f"{newest.relative_to(ROOT)} is newer than {where}: run `make build-test`"
    return None
