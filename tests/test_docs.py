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


DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return {_anchor(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


def _relative_links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for target in _relative_links(doc):
        file_part, _, anchor = target.partition("#")
        resolved = (doc.parent / file_part).resolve() if file_part else doc
        if not resolved.exists():
            broken.append(f"{target} (no file {resolved})")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target} (no heading #{anchor} in {resolved.name})")
    assert not broken, f"{doc.relative_to(ROOT)}: broken links: {', '.join(broken)}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_link_nothing_outside_the_repository(doc: Path) -> None:
    text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.S)
    outside = [t for t in LINK.findall(text) if re.match(r"[a-z][a-z0-9+.-]*:", t)]
    assert not outside, f"{doc.relative_to(ROOT)} links outside the repository: {outside}"


def test_readme_is_at_most_12_kb() -> None:
    size = len(README.read_bytes())
    assert size <= 12 * 1024, f"README.md is {size} bytes, more than 12 KB: move detail to docs/"


def test_readme_camera_config_validates(tmp_path: Path) -> None:
    from agent.config import load_config

    section = README.read_text().split("## Your own camera", 1)[1]
    block = re.search(r"```toml\n(.*?)```", section, re.S)
    assert block, "README's 'Your own camera' has no TOML config"
    path = tmp_path / "camera.toml"
    path.write_text(block.group(1))
    config = load_config(path, environ={})
    assert [c.name for c in config.cameras] == ["entrance"]
