"""Result tables: formats by extension, atomic writes, permissions."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from mscsim.errors import SpecError
from mscsim.io import atomic_path, read_table, write_table
from mscsim.io.tables import TableWriter

FRAME = pd.DataFrame({"patient_id": [0, 0], "time_day": [0.0, 1.0], "cells_total": [1e7, 5e6]})


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_tables_round_trip_in_the_format_of_their_extension(tmp_path: Path, suffix: str) -> None:
    path = write_table(FRAME, tmp_path / "sub" / f"t{suffix}")
    pd.testing.assert_frame_equal(read_table(path), FRAME)


def test_written_files_get_the_same_mode_as_a_plain_file(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    path = write_table(FRAME, tmp_path / "t.csv")
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


def test_a_failed_write_leaves_no_file_behind(tmp_path: Path) -> None:
    target = tmp_path / "t.csv"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_extension_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"unknown table format '\.xlsx'; use a \.csv or \.parquet"):
        write_table(FRAME, tmp_path / "t.xlsx")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_table_written_in_chunks_reads_back_as_the_whole_table(
    tmp_path: Path, suffix: str
) -> None:
    whole = pd.DataFrame(
        {
            "patient_id": np.repeat(np.arange(6), 3),
            "time_day": np.tile([0.0, 1.0, 2.0], 6),
            "cells_total": np.linspace(1e7, 1e5, 18),
            "genotype": ["SCA1", "SCA3"] * 9,
        }
    )
    path = tmp_path / f"t{suffix}"
    with TableWriter(path) as writer:
        for start in range(0, 18, 9):
            writer.write(whole.iloc[start : start + 9])
            assert not path.exists()  # nothing at the target before the last chunk
    pd.testing.assert_frame_equal(read_table(path), whole)
    if suffix == ".parquet":  # each chunk a row group; simulated values without a dictionary
        meta = pq.ParquetFile(path).metadata
        assert meta.num_row_groups == 2
        encodings = {
            meta.schema.column(i).name: meta.row_group(0).column(i).encodings
            for i in range(meta.num_columns)
        }
        assert "PLAIN_DICTIONARY" not in encodings["cells_total"]
        assert "RLE_DICTIONARY" not in encodings["cells_total"]
        assert "RLE_DICTIONARY" in encodings["genotype"]
