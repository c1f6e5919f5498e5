"""Write and read result tables (CSV or Parquet), atomically."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mscsim.errors import SpecError
from mscsim.io.outputs import Output, OutputSet, partial_path, remove_stale_partials

__all__ = [
    "TABLE_FORMATS",
    "TableWriter",
    "atomic_path",
    "check_table_path",
    "read_table",
    "write_output_table",
    "write_table",
]

TABLE_FORMATS: tuple[str, ...] = (".csv", ".parquet")


def check_table_path(path: str | Path, *, what: str = "output") -> Path:
    """Refuse a table path whose extension is not ``.csv`` or ``.parquet``."""
    path = Path(path)
    if path.suffix.lower() not in TABLE_FORMATS:
        raise SpecError(
            f"{what} = {str(path)!r}: unknown table format {path.suffix or '(none)'!r}; "
            "use a .csv or .parquet file name"
        )
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    An interrupted or failed write never leaves a file that looks complete: the
    temporary, ``.NAME.mscsim-partial-PID.SUFFIX``, is removed on error, and one left
    by a killed process is removed the next time ``path`` is written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(path)
    tmp = partial_path(path)
    os.close(os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o666))
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_table(frame: pd.DataFrame, path: str | Path, *, atomic: bool = True) -> Path:
    """Write ``frame`` as CSV or Parquet (chosen by extension), atomically.

    ``atomic=False`` writes ``path`` directly (it is a temporary already, e.g. of an
    :class:`~mscsim.io.outputs.OutputSet`).
    """
    path = check_table_path(path)
    with atomic_path(path) if atomic else contextlib.nullcontext(path) as tmp:
        if path.suffix.lower() == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
    return path


def write_output_table(outputs: OutputSet, output: Output, frame: pd.DataFrame) -> None:
    """Write ``frame`` into ``output``'s temporary (committed with the other outputs)."""
    with outputs.writing(output) as tmp:
        write_table(frame, tmp, atomic=False)


class TableWriter:
    """Write a table in chunks, atomically: nothing appears at ``path`` until :meth:`close`.

    Use as a context manager; an exception discards the partial file. Parquet chunks
    become row groups (``pyarrow``), floating-point columns without a dictionary;
    CSV chunks are appended after one header. Only the chunk being written is held.
    ``atomic=False`` writes ``path`` directly (see :func:`write_table`).
    """

    def __init__(self, path: str | Path, *, atomic: bool = True) -> None:
        self.path = check_table_path(path)
        self._atomic: contextlib.AbstractContextManager[Path] = (
            atomic_path(self.path) if atomic else contextlib.nullcontext(self.path)
        )
        self._tmp: Path | None = None
        self._parquet: pq.ParquetWriter | None = None
        self.rows = 0

    def __enter__(self) -> TableWriter:
        self._tmp = self._atomic.__enter__()
        return self

    def write(self, frame: pd.DataFrame) -> None:
        """Append ``frame`` (same columns every time)."""
        assert self._tmp is not None  # noqa: S101 - only inside the context
        if self.path.suffix.lower() == ".csv":
            frame.to_csv(self._tmp, mode="a", header=self.rows == 0, index=False)
        else:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(
                    self._tmp, table.schema, use_dictionary=_dictionary_columns(table.schema)
                )
            self._parquet.write_table(table)
        self.rows += len(frame)

    def __exit__(self, *exc: object) -> None:
        if self._parquet is not None:
            self._parquet.close()
        self._atomic.__exit__(*exc)  # type: ignore[arg-type]


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    """Columns worth a dictionary: not floating point (patient ids, names, flags).

    Simulated values are nearly all distinct: a dictionary of them costs memory and
    time while it is built and is then dropped for plain encoding anyway.
    """
    return [field.name for field in schema if not pa.types.is_floating(field.type)]


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet table written by mscsim."""
    path = check_table_path(path, what="table")
    if not path.is_file():
        raise SpecError(f"table = {str(path)!r}: file not found")
    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except (ValueError, OSError) as err:
        raise SpecError(f"table = {str(path)!r}: cannot be read ({err})") from err
