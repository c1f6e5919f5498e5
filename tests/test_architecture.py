"""Layers point down only; the numerical core loads no edge library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "mscsim"

# Lower index = lower layer. A module may import from its own layer or lower ones.
LAYERS = [
    {"errors", "units"},
    {"spec", "evidence"},
    {"models"},
    {"engine"},
    {"problem"},
    {"population"},
    {"analysis"},
    {"io", "report"},
    {"cli", "service", "web"},
]
RANK = {pkg: i for i, layer in enumerate(LAYERS) for pkg in layer}
EDGE_LIBRARIES = ["typer", "rich", "matplotlib", "fastapi", "dask", "click"]


def package_of(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "mscsim" and len(parts) > 1:
                found.add(parts[1])
    return found


MODULES = [p for p in SRC.rglob("*.py") if package_of(p) in RANK]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_modules_import_only_from_their_own_or_lower_layers(path: Path) -> None:
    own = RANK[package_of(path)]
    higher = {pkg for pkg in imported_packages(path) if RANK.get(pkg, -1) > own}
    assert not higher, f"{path.name} imports from higher layers {sorted(higher)}"


def test_the_numerical_core_loads_no_cli_web_or_plotting_library() -> None:
    code = (
        "import sys, mscsim.engine, mscsim.models, mscsim.evidence, mscsim.spec;"
        f"print(','.join(m for m in {EDGE_LIBRARIES!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""
