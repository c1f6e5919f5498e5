"""Result tables: formats by extension, atomic writes, permissions."""

from __future__ import annotations

import stat
from pathlib import Path

import pandas as pd
import pytest

from mscsim.errors import SpecError
from mscsim.io import atomic_path, read_table, write_table

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
