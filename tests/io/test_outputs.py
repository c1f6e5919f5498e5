"""Outputs of a command: checked up front, committed together, nothing left on failure."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mscsim.errors import SpecError
from mscsim.io.outputs import NAME_MAX, PARTIAL, OutputSet, partial_path, remove_stale_partials
from mscsim.io.tables import TABLE_FORMATS, atomic_path

TABLE = {"flag": "--output", "formats": TABLE_FORMATS}


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def dead_pid() -> int:
    """Return the pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_partial_name_says_what_it_is_keeps_the_suffix_and_fits_the_file_system() -> None:
    assert partial_path(Path("out/r.csv"), pid=7) == Path("out/.r.csv.mscsim-partial-7.csv")
    longest = Path("x" * (NAME_MAX - 4) + ".csv")
    tmp = partial_path(longest, pid=2**31 - 1)
    assert len(os.fsencode(tmp.name)) <= NAME_MAX and tmp.suffix == ".csv"


def test_nothing_appears_before_commit_and_everything_after(tmp_path: Path) -> None:
    with OutputSet() as outputs:
        a = outputs.add_file(tmp_path / "a.csv", **TABLE)
        b = outputs.add_file(tmp_path / "sub" / "b.csv", flag="--doses-out", formats=TABLE_FORMATS)
        for output in (a, b):
            with outputs.writing(output) as tmp:
                tmp.write_text("x\n")
        assert not (tmp_path / "a.csv").exists() and not (tmp_path / "sub" / "b.csv").exists()
    assert tree(tmp_path) == ["a.csv", "sub", "sub/b.csv"]


@pytest.mark.parametrize("error", [RuntimeError("failed"), KeyboardInterrupt()])
def test_a_failure_or_an_interrupt_leaves_nothing_behind(
    tmp_path: Path, error: BaseException
) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(type(error)), OutputSet() as outputs:
        out = outputs.add_file(tmp_path / "new" / "deeper" / "r.csv", **TABLE)
        with outputs.writing(out) as tmp:
            tmp.write_text("half")
        outputs.add_dir(tmp_path / "trial", flag="--trial", known=())
        raise error
    assert tree(tmp_path) == ["keep.txt"]


def test_a_refused_output_removes_those_reserved_before_it(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"^--doses-out = '/proc/r.csv': cannot create"):
        with OutputSet() as outputs:
            outputs.add_file(tmp_path / "out" / "ok.csv", **TABLE)
            outputs.add_file("/proc/r.csv", flag="--doses-out", formats=TABLE_FORMATS)
    assert tree(tmp_path) == []


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("afile.txt/r.csv", "'afile.txt' is a file, not a directory"),
        ("afile.txt/sub/r.csv", "'afile.txt' is a file, not a directory"),
        ("adir.csv", "is an existing directory; give a file name"),
        ("r.txt", "unknown table format '.txt'; use a .csv or .parquet file name"),
        ("a" * 300 + ".csv", "the file name is 304 bytes long; at most 255"),
    ],
)
def test_bad_targets_are_refused_in_one_line_naming_flag_path_and_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, problem: str
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("afile.txt").write_text("")
    Path("adir.csv").mkdir()
    with pytest.raises(SpecError) as caught, OutputSet() as outputs:
        outputs.add_file(name, **TABLE)
    assert str(caught.value) == f"--output = {name!r}: {problem}"
    assert tree(tmp_path) == ["adir.csv", "afile.txt"]


def test_an_unwritable_directory_is_refused_up_front(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    real_open = os.open

    def refusing_open(path: Any, flags: int, *args: Any) -> int:
        # What the kernel answers a user without write permission; root is never told
        # so by the mode bits, so the answer is simulated for every user alike.
        if Path(path).parent == locked:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refusing_open)
    try:
        with pytest.raises(SpecError, match=r"^--output = .*: the directory .* is not writable$"):
            OutputSet().add_file(locked / "r.csv", **TABLE)
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize("second", ["r.csv", "sub/../r.csv"])
def test_two_outputs_naming_one_file_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, second: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError) as caught, OutputSet() as outputs:
        outputs.add_file("r.csv", **TABLE)
        outputs.add_file(second, flag="--covariates-out", formats=TABLE_FORMATS)
    assert str(caught.value) == (
        f"--covariates-out = {second!r}: names the same file as --output; give another name"
    )
    assert tree(tmp_path) == []


def test_a_full_disk_while_writing_is_one_line_naming_the_output(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught, OutputSet() as outputs:
        out = outputs.add_file(tmp_path / "r.csv", **TABLE)
        with outputs.writing(out):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert str(caught.value).startswith(
        f"--output = {str(tmp_path / 'r.csv')!r}: could not be written: no space left"
    )
    assert tree(tmp_path) == []


def test_stale_partials_of_dead_processes_go_and_live_ones_stay(tmp_path: Path) -> None:
    target = tmp_path / "r.csv"
    dead = partial_path(target, pid=dead_pid())
    live = partial_path(target, pid=os.getppid())
    other = partial_path(tmp_path / "other.csv", pid=dead_pid())
    for path in (dead, live, other):
        path.write_text("half")
    with OutputSet() as outputs:
        out = outputs.add_file(target, **TABLE)
        with outputs.writing(out) as tmp:
            tmp.write_text("done")
    assert not dead.exists() and live.exists() and other.exists()
    assert target.read_text() == "done"
    assert remove_stale_partials(tmp_path / "other.csv") == [other]


def test_atomic_path_names_its_temporary_and_cleans_a_killed_writers_leftover(
    tmp_path: Path,
) -> None:
    target = tmp_path / "t.csv"
    stale = partial_path(target, pid=dead_pid())
    stale.write_text("half")
    with atomic_path(target) as tmp:
        assert PARTIAL in tmp.name and tmp.suffix == ".csv"
        tmp.write_text("x")
    assert tree(tmp_path) == ["t.csv"]


def test_a_result_directory_replaces_an_earlier_one_and_refuses_foreign_files(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "trial"
    for text in ("first", "second"):
        with OutputSet() as outputs:
            out = outputs.add_dir(folder, flag="--output", known=("summary.json", "trial.png"))
            with outputs.writing(out) as tmp:
                (tmp / "summary.json").write_text(text)
    assert tree(tmp_path) == ["trial", "trial/summary.json"]
    assert (folder / "summary.json").read_text() == "second"
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(SpecError, match=r"holds files mscsim did not write \('notes.txt'\)"):
        OutputSet().add_dir(folder, flag="--output", known=("summary.json",))
    assert tree(tmp_path) == ["trial", "trial/notes.txt", "trial/summary.json"]


@pytest.mark.parametrize("name", [".", ".."])
def test_the_current_or_parent_directory_is_not_a_result_directory(name: str) -> None:
    with pytest.raises(SpecError, match=r"give the name of a new or result directory"):
        OutputSet().add_dir(name, flag="--output", known=())
