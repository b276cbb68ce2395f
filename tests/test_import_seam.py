"""The seam between the halves, read statically from every module's imports (no module is executed).

`models/` (contracts) imports neither half; `agent/` never imports `pruning` or torch; `pruning/`
imports from the agent only the inference code it runs IRs through (the rule: `models/__init__.py`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
AGENT_INFERENCE = {"agent.detector", "agent.detections", "agent.tiling", "agent.timing", "agent.profile.timing"}
"""The agent modules the pruning side may use: running and timing an IR exactly as the device does (and
as the profiler timed a LUT's rows, to check the LUT on its own statistic)."""


def imports(package: str) -> dict[str, set[str]]:
    """Module name -> absolute names it imports (anywhere in the file, lazy imports included)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
        found[module] = names
    return found


def offenders(package: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    bad = {module: sorted(n for n in names if n.split(".")[0] in forbidden)
           for module, names in imports(package).items()}
    return {module: names for module, names in bad.items() if names}


@pytest.mark.parametrize(("package", "forbidden"), [("models", ("agent", "pruning", "torch")),
                                                    ("agent", ("pruning", "torch"))])
def test_package_stays_on_its_side(package: str, forbidden: tuple[str, ...]) -> None:
    assert imports(package), f"no modules found under {package}/"
    assert offenders(package, forbidden) == {}


def test_pruning_uses_only_the_agents_inference_code() -> None:
    used = {module: sorted(n for n in names if n.split(".")[0] == "agent" and n not in AGENT_INFERENCE)
            for module, names in imports("pruning").items()}
    assert {module: names for module, names in used.items() if names} == {}
