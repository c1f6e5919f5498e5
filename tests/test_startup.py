"""Start-up: ``import mscsim`` and the command line's help load no heavy library.

Heavy libraries load with the first function or command that needs them. This test
checks which modules are loaded, not how long it takes (``bench/startup.py`` times it).
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import mscsim

SCA = Path(__file__).resolve().parents[1] / "examples" / "sca_uc_msc_iv.toml"
HEAVY = [
    "pandas",
    "pyarrow",
    "pydantic",
    "scipy",
    "statsmodels",
    "dask",
    "distributed",
    "matplotlib",
    "hypothesis",
]
"""Libraries neither ``import mscsim`` nor ``mscsim [COMMAND] --help`` may load."""

PACKAGES = [
    "mscsim",
    "mscsim.engine",
    "mscsim.evidence",
    "mscsim.io",
    "mscsim.models",
    "mscsim.population",
    "mscsim.report",
    "mscsim.spec",
]
"""Packages whose names load on first use."""


def modules_after(code: str) -> set[str]:
    """Run ``code`` in a fresh interpreter; return every module then loaded."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


def loaded_after(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter; return the heavy libraries it loaded."""
    return sorted({m.split(".")[0] for m in modules_after(code)} & set(HEAVY))


def test_import_mscsim_loads_no_heavy_library() -> None:
    assert loaded_after("import mscsim") == []


def test_the_command_line_and_every_help_load_no_heavy_library() -> None:
    code = """
import contextlib, io, typer
import mscsim.cli.main
from mscsim.cli.main import app
names = list(typer.main.get_command(app).commands)
assert len(names) >= 10, names
for args in [["--help"], ["--version"]] + [[name, "--help"] for name in names]:
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = app(args, prog_name="mscsim", standalone_mode=False)
    assert code == 0 and out.getvalue(), (args, code)
"""
    assert loaded_after(code) == []


def test_a_lazy_name_loads_its_library_when_used() -> None:
    assert "pandas" in loaded_after("import mscsim; mscsim.read_table")


def test_the_fast_engine_loads_neither_the_scipy_solvers_nor_scipy_stats() -> None:
    loaded = modules_after(
        f"import mscsim; mscsim.simulate_scenario(mscsim.load_scenario({str(SCA)!r}))"
    )
    assert {"scipy.integrate", "scipy.stats"} & loaded == set()


@pytest.mark.parametrize("name", PACKAGES)
def test_every_exported_name_resolves_and_is_listed_by_dir(name: str) -> None:
    package = importlib.import_module(name)
    for attr in package.__all__:
        assert getattr(package, attr) is not None, attr
    assert set(package.__all__) <= set(dir(package))


@pytest.mark.parametrize("name", PACKAGES)
def test_an_unknown_name_is_an_attribute_error(name: str) -> None:
    package = importlib.import_module(name)
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = package.no_such_name


@pytest.mark.parametrize("name", PACKAGES)
def test_the_stub_lists_what_the_package_exports(name: str) -> None:
    # lazy_loader exports what the stub imports; type checkers re-export its __all__.
    package = importlib.import_module(name)
    stub = ast.parse(Path(package.__file__ or "").with_suffix(".pyi").read_text())
    listed = next(
        ast.literal_eval(node.value)
        for node in stub.body
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "__all__"
    )
    assert sorted(listed) == sorted(package.__all__)


def test_the_top_level_api_is_the_objects_of_the_subpackages() -> None:
    from mscsim.analysis import withdrawal
    from mscsim.spec import Scenario

    assert mscsim.Scenario is Scenario
    assert mscsim.withdrawal is withdrawal
