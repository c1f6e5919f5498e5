"""The files a command writes: checked before any work, committed together or not at all.

Every output is written to a temporary sibling named after it,
``.NAME.mscsim-partial-PID[.SUFFIX]`` (a directory too), and renamed onto its
target only when every output of the command is complete. A failure or an
interrupt removes the temporaries and any directory made for them; temporaries
left by a killed run are removed by the next run that writes the same target.

Examples
--------
>>> import pandas as pd, tempfile
>>> from pathlib import Path
>>> from mscsim.io.tables import TABLE_FORMATS, write_table
>>> folder = Path(tempfile.mkdtemp())
>>> with OutputSet() as outputs:
...     table = outputs.add_file(folder / "r.csv", flag="--output", formats=TABLE_FORMATS)
...     with outputs.writing(table) as tmp:
...         _ = write_table(pd.DataFrame({"x": [1]}), tmp, atomic=False)
...     [p.name for p in folder.iterdir()] == [tmp.name]  # nothing at r.csv yet
True
>>> [p.name for p in folder.iterdir()]
['r.csv']
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from mscsim.errors import SpecError

__all__ = ["NAME_MAX", "PARTIAL", "Output", "OutputSet", "partial_path", "remove_stale_partials"]

PARTIAL = ".mscsim-partial-"
"""Marks a temporary output in its name: ``.NAME.mscsim-partial-PID[.SUFFIX]``."""
NAME_MAX = 255
"""Longest file name (bytes) the usual file systems (ext4, XFS, APFS, tmpfs) accept."""
_PID_DIGITS = 10
_CREATE = os.O_CREAT | os.O_EXCL | os.O_WRONLY


def _head(target: Path) -> str:
    """``.NAME`` cut so that a partial name with any pid fits in :data:`NAME_MAX` bytes."""
    room = NAME_MAX - len(PARTIAL) - _PID_DIGITS - len("-old") - len(os.fsencode(target.suffix))
    head = os.fsencode("." + target.name)[:room]
    return os.fsdecode(head.decode("utf-8", "ignore").encode())


def partial_path(target: str | Path, pid: int | None = None, *, old: bool = False) -> Path:
    """Return the temporary sibling that process ``pid`` (default: this one) writes for ``target``.

    The target's suffix is kept at the end, so writers that choose a format by
    extension write the right one. ``old=True``: where an earlier result directory
    waits while the new one takes its place.

    Examples
    --------
    >>> partial_path("out/r.csv", pid=42).as_posix()
    'out/.r.csv.mscsim-partial-42.csv'
    """
    target = Path(target)
    pid = os.getpid() if pid is None else pid
    tag = "-old" if old else ""
    return target.with_name(f"{_head(target)}{PARTIAL}{pid}{tag}{target.suffix}")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # a leftover of an earlier process that had this pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_stale_partials(target: str | Path) -> list[Path]:
    """Remove the temporaries of ``target`` whose process is gone; return what was removed."""
    target = Path(target)
    pattern = re.compile(
        re.escape(_head(target) + PARTIAL) + r"(\d+)(?:-old)?" + re.escape(target.suffix)
    )
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(target.parent if str(target.parent) else "."):
            match = pattern.fullmatch(entry.name)
            if match is None or _alive(int(match.group(1))):
                continue
            path = Path(entry.path)
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(path)
                else:
                    path.unlink()
                removed.append(path)
    return removed


@dataclass(frozen=True)
class Output:
    """One output of a command: where it goes, the flag that named it and its temporary."""

    path: Path
    flag: str
    temp: Path
    is_dir: bool = False

    def refuse(self, problem: str) -> SpecError:
        """Return the one-line error ``FLAG = 'PATH': problem``."""
        return _refuse(self.flag, self.path, problem)


def _refuse(flag: str, path: Path, problem: str) -> SpecError:
    return SpecError(f"{flag} = {str(path)!r}: {problem}")


def _problem(err: OSError, folder: Path) -> str:
    """Say in words why nothing can be created in ``folder``."""
    if err.errno in (errno.EACCES, errno.EPERM):
        return f"the directory {str(folder)!r} is not writable"
    if err.errno == errno.EROFS:
        return f"the directory {str(folder)!r} is on a read-only file system"
    if err.errno == errno.ENAMETOOLONG:
        return "the path is too long for the file system"
    if err.errno == errno.ENOSPC:
        return f"no space left on the device of {str(folder)!r}"
    return f"cannot create a file in {str(folder)!r} ({err.strerror or err})"


def _write_error(output: Output, err: OSError) -> SpecError:
    return output.refuse(f"could not be written: {_problem(err, output.path.parent)}")


class OutputSet:
    """Outputs of one command, checked up front and committed together.

    :meth:`add_file` and :meth:`add_dir` check a target at once (format, name
    length, parent directories, writability, no two outputs on one file) and
    reserve its temporary. Write into the temporary inside :meth:`writing`.
    Leaving the ``with`` block normally renames every temporary onto its target;
    an exception (or ``KeyboardInterrupt``) removes them and the directories made
    for them, and nothing is left behind.
    """

    def __init__(self) -> None:
        self.outputs: list[Output] = []
        self._made_dirs: list[Path] = []

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()

    def add_file(
        self, path: str | Path, *, flag: str, formats: Collection[str], kind: str = "table"
    ) -> Output:
        """Check ``path`` for a ``kind`` file in one of ``formats`` and reserve its temporary.

        Raises
        ------
        SpecError
            Naming ``flag``, the path and what is wrong: an unknown format, a name too
            long, an existing directory, a parent that is a file, an unwritable
            directory, or the same file as another output.
        """
        path = Path(path)
        if path.suffix.lower() not in formats:
            raise _refuse(
                flag,
                path,
                f"unknown {kind} format {path.suffix or '(none)'!r}; "
                f"use a {' or '.join(formats)} file name",
            )
        output = Output(path, flag, partial_path(path))  # a name with a suffix is not empty
        self._check_target(output)
        if path.is_dir():
            raise output.refuse("is an existing directory; give a file name")
        self._reserve(output, lambda tmp: os.close(os.open(tmp, _CREATE, 0o666)))
        return output

    def add_dir(self, path: str | Path, *, flag: str, known: Collection[str]) -> Output:
        """Check ``path`` for a directory of results and reserve its temporary directory.

        An existing directory is replaced at commit if it is empty or holds only
        files named in ``known`` (an earlier result); otherwise it is refused.
        """
        path = Path(path)
        if path.name in ("", ".."):
            raise _refuse(flag, path, "give the name of a new or result directory")
        output = Output(path, flag, partial_path(path), is_dir=True)
        self._check_target(output)
        if path.exists() and not path.is_dir():
            raise output.refuse("exists and is not a directory")
        if path.is_dir():
            foreign = sorted(set(os.listdir(path)) - set(known))
            if foreign:
                raise output.refuse(
                    f"holds files mscsim did not write ({', '.join(map(repr, foreign[:3]))}); "
                    "give a new or empty directory"
                )
        self._reserve(output, lambda tmp: tmp.mkdir())
        return output

    @contextlib.contextmanager
    def writing(self, output: Output) -> Iterator[Path]:
        """Yield ``output``'s temporary; an ``OSError`` becomes one line naming the output."""
        try:
            yield output.temp
        except OSError as err:
            raise _write_error(output, err) from err

    def commit(self) -> None:
        """Rename every temporary onto its target (an earlier result directory is replaced)."""
        try:
            for output in self.outputs:
                if output.is_dir and output.path.is_dir():
                    old = partial_path(output.path, old=True)
                    os.rename(output.path, old)
                    os.rename(output.temp, output.path)
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    os.replace(output.temp, output.path)
        except OSError as err:
            self.discard()
            raise _write_error(output, err) from err
        self.outputs.clear()
        self._made_dirs.clear()

    def discard(self) -> None:
        """Remove every temporary and the directories made for them."""
        for output in self.outputs:
            with contextlib.suppress(OSError):
                if output.temp.is_dir() and not output.temp.is_symlink():
                    shutil.rmtree(output.temp)
                else:
                    output.temp.unlink()
        for folder in reversed(self._made_dirs):
            with contextlib.suppress(OSError):
                folder.rmdir()
        self.outputs.clear()
        self._made_dirs.clear()

    def _check_target(self, output: Output) -> None:
        size = len(os.fsencode(output.path.name))
        if size > NAME_MAX:
            raise output.refuse(f"the file name is {size} bytes long; at most {NAME_MAX}")
        where = output.path.resolve()
        for other in self.outputs:
            if other.path.resolve() == where:
                raise output.refuse(f"names the same file as {other.flag}; give another name")

    def _reserve(self, output: Output, create: Callable[[Path], object]) -> None:
        """Make the missing parents of ``output`` and create its temporary."""
        missing = []
        folder = output.path.parent
        while not folder.exists() and folder != folder.parent:
            missing.append(folder)
            folder = folder.parent
        if not folder.is_dir():
            raise output.refuse(f"{str(folder)!r} is a file, not a directory")
        try:
            for new in reversed(missing):
                new.mkdir()
                self._made_dirs.append(new)
                folder = new
            remove_stale_partials(output.path)
            create(output.temp)
        except OSError as err:
            self.discard()
            raise output.refuse(_problem(err, folder)) from err
        self.outputs.append(output)
