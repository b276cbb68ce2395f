"""The README matches the code: its reference tables are generated, its quick start is two commands."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agent.reference import TABLES, json_schemas, render_readme

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.parametrize("name", sorted(TABLES))
def test_reference_tables_are_current(name: str) -> None:
    text = README.read_text()
    block = re.search(rf"<!-- reference:{name} -->\n(.*?)\n<!-- /reference:{name} -->", text, re.S)
    assert block, f"README lacks the {name} reference block"
    assert block.group(1) == TABLES[name](), f"README's {name} table is stale: run `python -m agent.reference --write`"


@pytest.mark.parametrize("name", sorted(json_schemas()))
def test_published_json_schemas_are_current(name: str) -> None:
    path = README.parent / "docs" / "schemas" / name
    assert path.is_file() and json.loads(path.read_text()) == json_schemas()[name], (
        f"{path} is stale: run `python -m agent.reference --write`")


def test_render_is_idempotent() -> None:
    text = README.read_text()
    assert render_readme(text) == text


def test_quick_start_is_exactly_two_commands() -> None:
    section = README.read_text().split("## Quick start", 1)[1].split("```", 2)[1]
    assert section.strip().splitlines() == ["make demo", "make test"]
