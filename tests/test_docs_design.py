"""docs/design.md is the contract: its register-map section must be today's hw.spec.regmap."""

from pathlib import Path

import pytest

from hw.spec import regmap

DESIGN = Path(__file__).resolve().parent.parent / "docs" / "design.md"


def test_register_map_section_is_current():
    text = DESIGN.read_text()
    assert regmap.docs_with_register_map(text) == text, (
        "docs/design.md's register map is stale: run `python -m hw.spec.regmap --write-docs`"
    )


def test_register_map_section_holds_literal_rows():
    # Independent of markdown(): rows written by hand from the frozen map.
    text = DESIGN.read_text()
    assert "| 0x000 | ID | ro | 0x45415653 | magic number, ASCII \"EAVS\" |" in text
    assert "| 0x030 | CYCLES | ro | 0 |" in text


def test_missing_markers_are_named():
    with pytest.raises(ValueError, match="regmap:begin"):
        regmap.docs_with_register_map("# no markers here\n")
