"""``mscsim simulate`` with a population and ``mscsim trial`` from the command line."""

from __future__ import annotations

import gc
import json
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from tests.cli.test_cli import EXAMPLES, invoke

import mscsim.population
from mscsim.cli.simulate import CovariateSummary
from mscsim.population import PopulationChunk

POPULATION = """
[patient]
weight_kg = 70

[product]
source = "bone_marrow"
donor = "autologous"
viability = 0.9

[[dose]]
route = "intramuscular"
cells = 5e7

[disease]
model = "inflammation"

[simulation]
horizon_days = 14
n_patients = 30

[population]
seed = 4
"""

TRIAL = """
[trial]
replicates = 20
seed = 3

[endpoint]
output = "inflammation_index"
day = 10

[measurement]
additive_sd = 0.1

[[arm]]
name = "MSC"
n = 6
scenario = "arm.toml"

[[arm]]
name = "placebo"
n = 6
placebo = true
scenario = "arm.toml"
"""


def test_a_population_writes_every_patient_and_its_covariates(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(POPULATION)
    out, cov = tmp_path / "p.parquet", tmp_path / "cov.csv"
    code, stdout, _ = invoke(
        "simulate",
        str(tmp_path / "s.toml"),
        "-o",
        str(out),
        "--covariates-out",
        str(cov),
        "--chunk-size",
        "7",
    )
    assert code == 0, stdout
    frame = pd.read_parquet(out)
    assert frame["patient_id"].nunique() == 30 and len(frame) == 30 * 15
    assert frame.groupby("time_day")["inflammation_index"].std().iloc[-1] > 0
    assert len(pd.read_csv(cov)) == 30
    assert "sampled patients" in stdout


def test_a_population_is_written_chunk_by_chunk_and_no_chunk_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    simulate = mscsim.population.simulate_population
    kept: list[str] = []
    seen: list[int] = []

    def watched(*args: Any, **kwargs: Any) -> Iterator[PopulationChunk]:
        for chunk in simulate(*args, **kwargs):
            seen.append(chunk.result.n_patients)
            parts = {"result": weakref.ref(chunk.result), "problem": weakref.ref(chunk.problem)}
            yield chunk
            del chunk  # the next chunk is asked for: whatever still holds this one keeps it
            gc.collect()
            kept.extend(name for name, ref in parts.items() if ref() is not None)

    monkeypatch.setattr(mscsim.population, "simulate_population", watched)
    (tmp_path / "s.toml").write_text(
        POPULATION.replace("cells = 5e7", "cells = 5e7\nevery_days = 4\ncount = 3")
    )
    out, doses, cov = (tmp_path / f"{name}.parquet" for name in ("p", "d", "cov"))
    code, stdout, stderr = invoke(
        "simulate",
        str(tmp_path / "s.toml"),
        "-o",
        str(out),
        "--doses-out",
        str(doses),
        "--covariates-out",
        str(cov),
        "--chunk-size",
        "7",
    )
    assert code == 0, stdout + stderr
    assert seen == [7, 7, 7, 7, 2] and kept == []
    # One row group per chunk of 7 patients: each table was fed chunk by chunk.
    for path, rows in ((out, 30 * 15), (doses, 30 * 3), (cov, 30)):
        meta = pq.ParquetFile(path).metadata
        assert (meta.num_row_groups, meta.num_rows) == (5, rows), path.name
    frame = pd.read_parquet(out)
    assert frame["patient_id"].tolist() == np.repeat(np.arange(30), 15).tolist()


def test_the_covariate_summary_fed_in_chunks_gives_the_figures_of_the_whole_table() -> None:
    rng = np.random.default_rng(3)
    n = 101
    whole = pd.DataFrame(
        {
            "patient_id": np.arange(n),
            "weight_kg": rng.normal(70, 10, n),
            "visits": rng.integers(0, 5, n),
            "female": rng.random(n) < 0.5,
            # Ties between values' counts keep their order of first appearance.
            "genotype": pd.Series(
                ["SCA3", "SCA1", "SCA2", "SCA1", "SCA3", "SCA2"] * 16 + ["x"] * 5
            ),
        }
    )
    summary = CovariateSummary()
    for start in range(0, n, 10):
        summary.add(whole.iloc[start : start + 10])
    rows = {row["covariate"]: row for row in summary.rows()}
    assert list(rows) == ["weight_kg", "visits", "female", "genotype"]
    for name in ("weight_kg", "visits"):
        expected = whole[name].quantile([0.05, 0.5, 0.95]).tolist()
        assert [rows[name][k] for k in ("p5", "median", "p95")] == expected
    for name in ("female", "genotype"):
        shares = whole[name].value_counts(normalize=True).round(2).to_dict()
        assert list(rows[name]["shares"].items()) == list(shares.items())


def test_a_population_summary_writes_percentiles(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(POPULATION)
    out = tmp_path / "sum.csv"
    code, _, _ = invoke("simulate", str(tmp_path / "s.toml"), "-o", str(out), "--summary")
    assert code == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["time_day", "output", "p5", "p50", "p95", "mean"]
    assert (frame["p5"] <= frame["p50"]).all() and (frame["p50"] <= frame["p95"]).all()


def test_population_options_without_a_population_are_refused(tmp_path: Path) -> None:
    text = POPULATION.split("[population]")[0]
    (tmp_path / "s.toml").write_text(text)
    code, _, stderr = invoke("simulate", str(tmp_path / "s.toml"), "-o", "x.csv", "--summary")
    assert code == 2
    assert stderr == "error: --summary: needs a [population] table in the scenario\n"


def test_trial_writes_its_tables_summary_and_plot(tmp_path: Path) -> None:
    (tmp_path / "arm.toml").write_text(POPULATION)
    (tmp_path / "t.toml").write_text(TRIAL)
    out = tmp_path / "out"
    code, stdout, _ = invoke(
        "trial", str(tmp_path / "t.toml"), "-o", str(out), "--power-curve", "4,8"
    )
    assert code == 0, stdout
    summary = json.loads((out / "summary.json").read_text())
    for key in ("power", "effect_estimate", "ci_low", "ci_high", "replicates", "n_per_arm"):
        assert key in summary
    assert summary["replicates"] == 20 and summary["n_per_arm"] == {"MSC": 6, "placebo": 6}
    assert len(pd.read_parquet(out / "replicates.parquet")) == 20
    assert len(pd.read_parquet(out / "patients.parquet")) == 20 * 12
    assert [p["n_per_arm"] for p in summary["power_curve"]] == [4, 8]
    assert (out / "trial.png").stat().st_size > 10_000
    assert "power" in stdout


def test_trial_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "arm.toml").write_text(POPULATION)
    (tmp_path / "t.toml").write_text(
        TRIAL.replace('output = "inflammation_index"', 'output = "sara"')
    )
    code, _, stderr = invoke("trial", str(tmp_path / "t.toml"), "-o", str(tmp_path / "o"))
    assert code == 2
    assert stderr.startswith("error: endpoint.output = 'sara': not an output of arm[0]'s model")
    assert not (tmp_path / "o").exists()
    (tmp_path / "t.toml").write_text(TRIAL.replace("arm.toml", "missing.toml", 1))
    code, _, stderr = invoke("trial", str(tmp_path / "t.toml"), "-o", str(tmp_path / "o"))
    assert code == 2
    assert stderr.startswith("error: arm[0].scenario = 'missing.toml': scenario = ")
    code, _, stderr = invoke(
        "trial", str(EXAMPLES / "sca_trial.toml"), "-o", "o", "--power-curve", "1"
    )
    assert code == 2 and "--power-curve = '1'" in stderr


def test_a_bad_dask_address_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(POPULATION)
    out = tmp_path / "p.csv"
    code, _, stderr = invoke(
        "simulate", str(tmp_path / "s.toml"), "-o", str(out), "--dask", "lan:4"
    )
    assert code == 2 and not out.exists()
    assert stderr == "error: --dask = 'lan:4': use tcp://HOST:PORT, local or local:N\n"


def test_doses_out_with_a_population_gives_each_patient_its_own_doses(tmp_path: Path) -> None:
    per_kg = POPULATION.replace("cells = 5e7", "cells_per_kg = 7e5\nevery_days = 4\ncount = 3")
    (tmp_path / "s.toml").write_text(per_kg)
    out, doses, cov = tmp_path / "p.csv", tmp_path / "d.csv", tmp_path / "cov.csv"
    code, stdout, stderr = invoke(
        "simulate",
        str(tmp_path / "s.toml"),
        "-o",
        str(out),
        "--doses-out",
        str(doses),
        "--covariates-out",
        str(cov),
        "--chunk-size",
        "7",
    )
    assert code == 0, stdout + stderr
    table, covariates = pd.read_csv(doses), pd.read_csv(cov).set_index("patient_id")
    assert len(table) == 30 * 3 and table.groupby("patient_id").size().eq(3).all()
    own = covariates.loc[table["patient_id"]]
    expected = 7e5 * own["weight_kg"].to_numpy() * own["lot_viability"].to_numpy()
    assert ((table["viable_cells"] - expected).abs() <= 1e-6 * expected).all()
    assert (table["exposure_cell_days"] > 0).all()
    frame = pd.read_csv(out)
    assert len(frame) == 30 * 15  # the table keeps the scenario's output times only
