"""The docs match the code: docs/reference.md's tables are generated, the README's quick start is two commands."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agent.reference import REFERENCE_DOC, TABLES, json_schemas, render_reference

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
REFERENCE = ROOT / REFERENCE_DOC


@pytest.mark.parametrize("name", sorted(TABLES))
def test_reference_tables_are_current(name: str) -> None:
    text = REFERENCE.read_text()
    block = re.search(rf"<!-- reference:{name} -->\n(.*?)\n<!-- /reference:{name} -->", text, re.S)
    assert block, f"{REFERENCE_DOC} lacks the {name} reference block"
    assert block.group(1) == TABLES[name](), (
        f"{REFERENCE_DOC}'s {name} table is stale: run `python -m agent.reference --write`")


@pytest.mark.parametrize("name", sorted(json_schemas()))
def test_published_json_schemas_are_current(name: str) -> None:
    path = ROOT / "docs" / "schemas" / name
    assert path.is_file() and json.loads(path.read_text()) == json_schemas()[name], (
        f"{path} is stale: run `python -m agent.reference --write`")


def test_render_is_idempotent() -> None:
    text = REFERENCE.read_text()
    assert render_reference(text) == text


def test_quick_start_is_exactly_two_commands() -> None:
    section = README.read_text().split("## Quick start", 1)[1].split("```", 2)[1]
    assert section.strip().splitlines() == ["make demo", "make test"]
