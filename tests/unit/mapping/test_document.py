from pathlib import Path

from richpanel_destination.mapping.document import render
from richpanel_destination.mapping.table import TABLES
from richpanel_destination.mapping.transform import CONVERTERS

DOC = Path(__file__).parents[3] / "docs" / "mapping.md"


def test_docs_mapping_md_is_the_rendered_table() -> None:
    assert DOC.read_text() == render(), "regenerate: make docs"


def test_every_rule_appears_with_its_provenance() -> None:
    text = render()
    for rules in TABLES.values():
        for rule in rules:
            assert f"| `{rule.dest}` |" in text
            assert rule.provenance in ("documented", "own code", "field report", "inferred")


def test_every_converter_is_described_under_conversions() -> None:
    conversions = render().partition("## Conversions")[2].partition("## Decisions")[0]
    for name in CONVERTERS:
        assert f"**`|{name}`**" in conversions, name
