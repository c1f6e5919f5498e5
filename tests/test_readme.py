"""The README shows what the code produces, and the project refers only to files it has.

Every number table and number-quoting sentence of the README sits in a block that
``docs/make_readme.py`` renders from the code (``make docs`` rewrites them); these
tests render each block again and fail when the README differs.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from mscsim.io.scenario import load_trial

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_readme", ROOT / "docs" / "make_readme.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_readme = _generator()
TEXT = README.read_text("utf-8")
SHOWN = make_readme.blocks_in(TEXT)


def test_every_generated_block_is_closed_and_has_a_renderer() -> None:
    opened = re.findall(r"<!-- generated:([a-z_]+) -->", TEXT)
    closed = re.findall(r"<!-- /generated:([a-z_]+) -->", TEXT)
    assert opened == closed == list(SHOWN)
    assert set(SHOWN) == {*make_readme.BLOCKS, *make_readme.RUN_BLOCKS}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(make_readme.BLOCKS))
def test_readme_block_is_what_the_code_produces_now(name: str) -> None:
    assert SHOWN[name] == make_readme.BLOCKS[name](), f"README block {name!r} is stale: make docs"


@pytest.mark.parametrize("name", sorted(make_readme.RUN_BLOCKS))
def test_run_blocks_are_rendered_from_the_run_summaries_kept_beside_the_figures(name: str) -> None:
    assert SHOWN[name] == make_readme.render_run_block(name)


def test_the_claims_summary_lists_every_claim_the_command_checks() -> None:
    import json

    from mscsim.analysis.claims import CLAIM_IDS

    claims = json.loads((ROOT / make_readme.CLAIMS_SUMMARY).read_text("utf-8"))
    assert [c["id"] for c in claims] == list(CLAIM_IDS)
    assert all(0.0 <= c["robustness"] <= 1.0 for c in claims)


def test_trial_summary_is_a_run_of_the_example_trial_as_it_is_now() -> None:
    spec = load_trial(ROOT / make_readme.TRIAL_FILE)
    summary = make_readme.read_trial_summary()
    assert summary["replicates"] == spec.trial.replicates
    assert summary["seed"] == spec.trial.seed
    assert summary["alpha"] == spec.trial.alpha
    assert summary["analysis"] == spec.trial.analysis
    assert summary["dropout"] == spec.trial.dropout
    assert summary["n_per_arm"] == {arm.name: arm.n for arm in spec.arm}
    assert summary["endpoint"].endswith(
        f"{spec.endpoint.output} from day 0 to day {spec.endpoint.day:g}"
    )


def _summary(power: float) -> dict[str, Any]:
    safety = {"infusions": 40.0, "fevers": 6.0, "serious_events": 0.1}
    return {
        "power": power,
        "effect_estimate": -1.5,
        "ci_low": -3.0,
        "ci_high": 0.0,
        "true_effect": -1.5,
        "replicates": 500,
        "n_per_arm": {"A": 10, "B": 5},
        "treated": "A",
        "control": "B",
        "alpha": 0.05,
        "analysis": "ancova",
        "endpoint": "change in x from day 0 to day 365",
        "seed": 1,
        "dropout": 0.05,
        "safety_per_replicate": {"A": safety, "B": safety},
        "n_treated_for_80_percent_power": 12345.0,
    }


def test_trial_text_says_what_the_power_is() -> None:
    chance = make_readme.block_trial(_summary(0.05))
    found = make_readme.block_trial(_summary(0.9))
    assert "cannot detect" in chance and "chance" in chance
    assert "cannot detect" not in found and "90% of trials" in found
    assert "about 12,000" in found and "--power-curve" not in found


def _demo_recipe() -> str:
    makefile = (ROOT / "Makefile").read_text("utf-8")
    match = re.search(r"^demo:.*?\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert match, "Makefile has no demo target"
    return match[1]


def test_every_readme_figure_is_one_make_demo_writes_and_make_docs_copies() -> None:
    shown = set(re.findall(r"\]\((docs/figures/[^)]+)\)", TEXT))
    assert shown, "the README shows no figures"
    for figure, test in make_readme.SCREENSHOTS.items():  # written by a browser test
        assert Path(figure).name in (ROOT / test).read_text("utf-8"), (figure, test)
        assert (ROOT / figure).is_file(), figure
    assert shown <= set(make_readme.FIGURES.values()) | set(make_readme.SCREENSHOTS)
    recipe = _demo_recipe()
    for source, target in make_readme.FIGURES.items():
        written = source in recipe or f"-o {Path(source).parent}" in recipe
        assert written, f"make demo does not write {source}"
        assert (ROOT / target).is_file(), target
    makefile = (ROOT / "Makefile").read_text("utf-8")
    assert re.search(r"^docs: .*demo", makefile, re.MULTILINE)
    assert "docs/make_readme.py" in makefile


# ---------------------------------------------------------------- self-contained

_SCANNED_DIRS = ("src", "examples", "docs", "tests", "bench", "scripts")
_SCANNED_FILES = ("README.md", "CHANGELOG.md", "Makefile", "pyproject.toml")
_TEXT_SUFFIXES = {".py", ".toml", ".md", ".txt", ".cfg", ".ini", ".yaml", ".yml", ".json"}
_MD_REFERENCE = re.compile(r"(?<![\w/.-])((?:\.\./|[\w-]+/)*[\w-]+\.md)\b")
_PATH_REFERENCE = re.compile(r"(?<![\w/.-])((?:src|examples|docs|bench|scripts)/[\w./*-]*\w)")


def _project_files() -> list[Path]:
    files = [ROOT / name for name in _SCANNED_FILES if (ROOT / name).is_file()]
    for folder in _SCANNED_DIRS:
        files += sorted(
            p
            for p in (ROOT / folder).rglob("*")
            if p.is_file() and p.suffix in _TEXT_SUFFIXES and "__pycache__" not in p.parts
        )
    return [p for p in files if p.resolve() != Path(__file__).resolve()]


def _exists(reference: str, where: Path) -> bool:
    for base in (ROOT, where.parent):
        if "*" in reference:
            if any(base.glob(reference)):
                return True
        elif (base / reference).exists():
            return True
    return False


def test_no_file_refers_to_a_document_the_repository_does_not_have() -> None:
    files = _project_files()
    names = {p.name for p in files}
    dangling = []
    for path in files:
        text = path.read_text("utf-8", errors="replace")
        if "../shared" in text:
            dangling.append(f"{path.relative_to(ROOT)}: ../shared")
        for reference in _MD_REFERENCE.findall(text):
            known = _exists(reference, path) if "/" in reference else reference in names
            if not known:
                dangling.append(f"{path.relative_to(ROOT)}: {reference}")
    assert not dangling, dangling


def test_no_project_file_names_a_path_the_repository_does_not_have() -> None:
    dangling = []
    for path in _project_files():
        if path.is_relative_to(ROOT / "tests"):
            continue  # tests name missing files on purpose
        for reference in _PATH_REFERENCE.findall(path.read_text("utf-8", errors="replace")):
            reference = reference.rstrip(".")
            if "." in Path(reference).name and not _exists(reference, path):
                dangling.append(f"{path.relative_to(ROOT)}: {reference}")
    assert not dangling, dangling


@pytest.mark.slow
def test_the_readme_python_examples_run_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert blocks
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README


def _bench_script(name: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Load ``bench/NAME.py`` as a module (registered: its dataclasses look it up)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / f"bench/{name}.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, script)
    spec.loader.exec_module(script)
    return script


def test_the_nonlinear_benchmark_summary_is_a_run_of_the_script_as_it_is_now(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    script = _bench_script("nonlinear", monkeypatch)
    summary = json.loads((ROOT / make_readme.BENCH_NONLINEAR).read_text("utf-8"))
    assert summary["baseline_step_day"] == script.BASELINE_STEP_DAY
    assert summary["doses"] == len(script.DOSE_DAYS)
    assert summary["outputs"] == script.TIMES_DAY.size
    assert summary["varied"] == list(script.VARIED) and summary["omega"] == script.OMEGA
    assert summary["target_ratio"] == script.TARGET_RATIO
    assert summary["baseline_steps_per_patient"] == script.baseline_steps_per_patient()
    assert {r["patients"] for r in summary["rows"]} >= set(script.TARGET_SIZES)
    for row in summary["rows"]:
        met = (
            row["ratio"] >= script.TARGET_RATIO
            and max(row["error_mscsim"], row["error_baseline"]) <= script.TARGET_ERROR
        )
        assert row["met"] == met


def test_the_engine_benchmark_summary_is_a_run_of_the_script_as_it_is_now(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    script = _bench_script("engine", monkeypatch)
    summary = json.loads((ROOT / make_readme.BENCH_ENGINE).read_text("utf-8"))
    assert [r["scenario"] for r in summary["rows"]] == list(script.SCENARIOS)
    for row, (path, donor) in zip(summary["rows"], script.SCENARIOS.values(), strict=True):
        assert (row["file"], row["donor"]) == (path.relative_to(ROOT).as_posix(), donor)
    assert summary["varied"] == list(script.VARIED) and summary["omega"] == script.OMEGA
    assert summary["fast_solver"] == repr(script.FAST_SOLVER)
    assert summary["scipy_solver"] == repr(script.SCIPY_SOLVER)
    assert summary["n_patients"] >= script.TARGET_PATIENTS
    assert summary["target_ratio"] == script.TARGET_RATIO
    assert summary["target_error"] == script.TARGET_ERROR
    assert summary["target_patients"] == script.TARGET_PATIENTS
    for row in summary["rows"]:
        met = (
            row["ratio"] >= script.TARGET_RATIO
            and row["error_fast"] <= script.TARGET_ERROR
            and summary["n_patients"] >= script.TARGET_PATIENTS
        )
        assert row["met"] == met


def test_the_population_benchmark_summary_is_a_run_of_the_script_as_it_is_now(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    script = _bench_script("population", monkeypatch)
    summary = json.loads((ROOT / make_readme.BENCH_POPULATION).read_text("utf-8"))
    assert summary["targets"] == script.targets()
    files = (script.SCENARIO_FILE, script.TRIAL_FILE, script.ARM_FILE)
    assert [summary[key] for key in ("scenario", "trial", "arm")] == list(
        map(script.relative, files)
    )
    assert summary["population_seed"] == script.POPULATION_SEED
    parts = summary["parts"]
    assert list(parts) == list(script.PARTS)
    speed = parts["speed"]
    assert speed["fast_solver"] == repr(script.FAST_SOLVER)
    assert speed["trial_step_solver"] == repr(script.TRIAL_STEP_SOLVER)
    assert speed["scipy_solver"] == repr(script.SCIPY_SOLVER)
    assert speed["reference_solver"] == repr(script.REFERENCE_SOLVER)
    assert speed["warm_up_patients"] == script.WARM_UP_PATIENTS
    assert 0 < speed["error_sensitised"] < speed["error_patients"] == summary["n_error"]
    for name in ("fast", "trial_step"):
        assert speed[f"{name}_ratio"] == pytest.approx(speed["scipy_ms"] / speed[f"{name}_ms"])
        assert speed[f"{name}_seconds_per_1e5"] == pytest.approx(speed[f"{name}_ms"] * 100)
    trial = parts["trial"]
    assert trial["ratio"] == pytest.approx(
        trial["ms_per_patient"] / trial["simulate_ms_per_patient"]
    )
    assert trial["seconds_per_1000"] == pytest.approx(trial["seconds"] / trial["replicates"] * 1e3)
    # part, measured: (bound, target size or None when scaled to the run, size measured)
    targets = {
        ("speed", "fast_ratio"): (
            "at_least",
            script.TARGET_SPEED_RATIO,
            script.TARGET_SPEED_PATIENTS,
        ),
        ("speed", "trial_step_ratio"): (
            "at_least",
            script.TARGET_SPEED_RATIO,
            script.TARGET_SPEED_PATIENTS,
        ),
        ("speed", "fast_error"): ("at_most", script.TARGET_ERROR, script.TARGET_SPEED_PATIENTS),
        ("speed", "fast_seconds_per_1e5"): ("at_most", script.TARGET_SECONDS_PER_1E5, None),
        ("speed", "trial_step_seconds_per_1e5"): ("at_most", script.TARGET_SECONDS_PER_1E5, None),
        ("stream", "peak_mib"): (
            "at_most",
            script.TARGET_STREAM_PEAK_MIB,
            script.TARGET_STREAM_PATIENTS,
        ),
        ("trial", "seconds_per_1000"): ("at_most", script.TARGET_TRIAL_SECONDS_PER_1000, None),
        ("trial", "ratio"): ("at_most", script.TARGET_TRIAL_RATIO, script.TARGET_TRIAL_REPLICATES),
    }
    seen = []
    for name, part in parts.items():
        for verdict in part["verdicts"]:
            seen.append((name, verdict["measured"]))
            kind, bound, target_size = targets[seen[-1]]
            assert (verdict[kind], verdict["target_size"]) == (bound, target_size)
            assert verdict["size"] == part["replicates" if name == "trial" else "patients"]
            value = part[verdict["measured"]]
            within = value >= bound if kind == "at_least" else value <= bound
            assert verdict["within"] == within
            at_size = target_size is None or verdict["size"] >= target_size
            assert verdict["met"] == (within and at_size)
    assert sorted(seen) == sorted(targets)


def test_the_fit_coverage_summary_is_a_run_of_the_script_as_it_is_now() -> None:
    import json

    spec = importlib.util.spec_from_file_location("fit_coverage", ROOT / "scripts/fit_coverage.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    summary = json.loads((ROOT / make_readme.FIT_COVERAGE).read_text("utf-8"))
    assert {k: v for k, v in summary["truth"].items() if k in script.TRUTH} == script.TRUTH
    assert summary["samples_per_patient"] == len(script.TIMES)
    assert summary["replicates"] >= 100
