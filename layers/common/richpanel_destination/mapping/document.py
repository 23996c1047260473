"""Render the mapping table as Markdown (``python -m richpanel_destination.mapping.document``)."""

from __future__ import annotations

from .table import TABLES, Rule

HEADER = """# Segment to Richpanel mapping

Generated from `layers/common/richpanel_destination/mapping/table.py` by
`python -m richpanel_destination.mapping.document`; a test keeps the two equal.
A field takes the first non-empty source. *spread* copies every key of the
source objects (mapped fields win). *documented* fields are in Richpanel's or
Segment's docs; *inferred* ones come from Richpanel's plugins and SDKs and are
assumptions (see `docs/richpanel-wire.md`).
"""


def _sources(rule: Rule) -> str:
    if rule.const is not None:
        return f"constant `{rule.const!r}`".replace("'", '"')
    text = " → ".join(f"`{s}`" for s in rule.sources)
    if rule.spread:
        text = f"spread of {text}"
    if rule.convert:
        text += f" ({rule.convert})"
    return text


def render() -> str:
    lines = [HEADER]
    for call_type, rules in TABLES.items():
        lines += [f"\n## {call_type}\n", "| Richpanel field | from Segment | provenance | source |"]
        lines.append("|---|---|---|---|")
        lines += [f"| `{r.dest}` | {_sources(r)} | {r.provenance} | {r.source} |" for r in rules]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
